import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { codeBlocks } from '../support/markdown-blocks.js';
import { writeDeployment } from '../../cli/demo/deployment.js';
import { parseCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import {
  validateManifests,
  type ManifestDocument,
  type ManifestObject,
} from './kubernetes-schema.js';

/** The repository root, from dist/tests/docker/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MANIFESTS_DIR = path.join(ROOT, 'docker', 'kubernetes');
const KUSTOMIZATION = 'kustomization.yaml';

/** The fields of kustomize's Kustomization these manifests use; any other is refused. */
const kustomizationSchema = z
  .object({
    apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
    kind: z.literal('Kustomization'),
    resources: z.array(z.string().min(1)).min(1),
    images: z
      .array(
        z
          .object({
            name: z.string().min(1),
            newName: z.string().min(1).optional(),
            newTag: z.string().min(1).optional(),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();

/** Every document of every manifest file but the kustomization, in file order. */
async function readManifests(): Promise<{ files: string[]; documents: ManifestDocument[] }> {
  const files = (await readdir(MANIFESTS_DIR))
    .filter((f) => f.endsWith('.yaml') && f !== KUSTOMIZATION)
    .sort();
  const documents: ManifestDocument[] = [];
  for (const file of files) {
    const text = await readFile(path.join(MANIFESTS_DIR, file), 'utf8');
    parseAllDocuments(text).forEach((doc, i) => {
      assert.deepEqual(doc.errors, [], `${file}#${i}`);
      const object = doc.toJS() as ManifestObject | null;
      // kubectl reads YAML 1.1: `0440`, `on` or `no` would mean something else there.
      const asKubectlReads = parseAllDocuments(text, { version: '1.1' })[i]?.toJS() as unknown;
      assert.deepEqual(asKubectlReads, object, `${file}#${i} reads otherwise as YAML 1.1`);
      if (object !== null) documents.push({ name: `${file}#${i}`, object });
    });
  }
  return { files, documents };
}

/** A shell command of README.md's code blocks, its continued lines joined, split into words. */
function readmeCommands(readme: string): string[][] {
  return codeBlocks(readme)
    .filter((block) => block.lang === 'sh')
    .flatMap((block) => block.text.replace(/\\\n/g, ' ').split('\n'))
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(/\s+/));
}

/** `--name=value` or `--name value` of a command. */
function option(command: readonly string[], name: string): string[] {
  const values: string[] = [];
  command.forEach((word, i) => {
    if (word.startsWith(`${name}=`)) values.push(word.slice(name.length + 1));
    else if (word === name && command[i + 1] !== undefined) values.push(command[i + 1]!);
  });
  return values;
}

/**
 * The Secrets and ConfigMaps README.md tells the operator to create, with the keys each gets:
 * `--from-literal=KEY=...` and `--from-file=KEY=...` name theirs; `--from-file=PATH` takes the
 * file name, or every file name of a folder (`folders` says which files a folder holds).
 */
function operatorCreated(
  commands: readonly string[][],
  folders: ReadonlyMap<string, readonly string[]>,
): Map<string, Set<string>> {
  const created = new Map<string, Set<string>>();
  for (const command of commands) {
    const at = command.indexOf('create');
    if (command[0] !== 'kubectl' || at < 0) continue;
    const kind = command[at + 1];
    const name = kind === 'secret' ? command[at + 3] : kind === 'configmap' ? command[at + 2] : '';
    if (!name) continue;
    const keys = new Set<string>();
    for (const literal of option(command, '--from-literal')) keys.add(literal.split('=')[0]!);
    for (const source of option(command, '--from-file')) {
      const [key, file] = source.includes('=') ? source.split('=') : [undefined, source];
      for (const k of key ? [key] : (folders.get(file!) ?? [path.basename(file!)])) keys.add(k);
    }
    created.set(`${kind === 'secret' ? 'Secret' : 'ConfigMap'}/${name}`, keys);
  }
  return created;
}

/** The port a probe or Service names, as a number: a name resolves among the container's ports. */
function portNumber(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** The mount that holds `file` in the container: the deepest one at or above it. */
function mountOf(container: IContainer, file: string): IVolumeMount | undefined {
  return (container.volumeMounts ?? [])
    .filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}

function isSubset(labels: Record<string, string> | undefined, of: Record<string, string>) {
  return (
    labels !== undefined &&
    Object.keys(labels).length > 0 &&
    Object.entries(labels).every(([k, v]) => of[k] === v)
  );
}

describe('docker/kubernetes: coordinator nodes as plain manifests', () => {
  let files: string[];
  let documents: ManifestDocument[];
  let readme: string;
  let deployment: IDeployment;
  let pod: IPodSpec;
  let container: IContainer;
  let podLabels: Record<string, string>;

  const ofKind = <T>(kind: string): T[] =>
    documents.filter((d) => d.object.kind === kind).map((d) => d.object as unknown as T);

  before(async () => {
    ({ files, documents } = await readManifests());
    readme = await readFile(path.join(MANIFESTS_DIR, 'README.md'), 'utf8');
    const deployments = ofKind<IDeployment>('Deployment');
    assert.equal(deployments.length, 1);
    deployment = deployments[0]!;
    pod = deployment.spec!.template.spec!;
    assert.equal(pod.containers.length, 1, 'one container: the coordinator');
    container = pod.containers[0]!;
    podLabels = deployment.spec!.template.metadata?.labels ?? {};
  });

  it('the kustomization lists every manifest file once, and nothing else', async () => {
    const kustomization = kustomizationSchema.parse(
      parse(await readFile(path.join(MANIFESTS_DIR, KUSTOMIZATION), 'utf8')),
    );
    assert.deepEqual([...kustomization.resources].sort(), files);
    assert.equal(new Set(kustomization.resources).size, kustomization.resources.length);
    assert.ok(
      kustomization.images?.some((image) => container.image?.startsWith(`${image.name}:`)),
      "the kustomization names the Deployment's image, so `kustomize edit set image` moves it",
    );
  });

  it('every object validates against the Kubernetes API schema', async () => {
    assert.deepEqual(await validateManifests(documents, ROOT), []);
  });

  it('a misspelt field, a wrong type or an unknown kind is refused', async () => {
    const broken = (change: (copy: IDeployment) => void): ManifestDocument => {
      const copy = structuredClone(deployment);
      change(copy);
      return { name: 'broken', object: copy as unknown as ManifestObject };
    };
    const cases: { document: ManifestDocument; names: string }[] = [
      {
        // A typo the API server would drop, and with it the read-only root.
        document: broken((copy) => {
          const context = copy.spec!.template.spec!.containers[0]!.securityContext!;
          delete context.readOnlyRootFilesystem;
          Object.assign(context, { readOnlyRootFileSystem: true });
        }),
        names: 'readOnlyRootFileSystem',
      },
      {
        document: broken((copy) => Object.assign(copy.spec!, { replicas: 'three' })),
        names: 'replicas',
      },
      {
        document: {
          name: 'broken',
          object: { apiVersion: 'apps/v1', kind: 'StatefullSet', metadata: { name: 'x' } },
        },
        names: 'StatefullSet',
      },
    ];
    for (const { document, names } of cases) {
      const issues = await validateManifests([document], ROOT);
      assert.ok(issues.length > 0, `${names} passed`);
      assert.ok(
        issues.some((issue) => issue.document === 'broken' && issue.message.includes(names)),
        JSON.stringify(issues),
      );
    }
  });

  it('coordinator nodes are a Deployment of at least 2 replicas: no StatefulSet, no volume claim', () => {
    for (const { name, object } of documents) {
      assert.ok(!['StatefulSet', 'PersistentVolumeClaim'].includes(object.kind), name);
    }
    assert.ok((deployment.spec!.replicas ?? 1) >= 2);
    assert.deepEqual(
      pod.volumes?.filter((v) => v.persistentVolumeClaim || v.hostPath),
      [],
      'a pod keeps nothing of its own',
    );
    assert.equal(container.args?.[0], 'coordinator');
  });

  it("the Service and the PodDisruptionBudget select exactly the Deployment's pods", () => {
    assert.ok(isSubset(deployment.spec!.selector.matchLabels, podLabels));
    const [service] = ofKind<IService>('Service');
    assert.ok(service);
    assert.equal(service.spec?.type ?? 'ClusterIP', 'ClusterIP');
    assert.notEqual(service.spec?.sessionAffinity, 'ClientIP', 'websocket sessions need none');
    assert.ok(isSubset(service.spec?.selector, podLabels));
    const [budget] = ofKind<IPodDisruptionBudget>('PodDisruptionBudget');
    assert.ok(budget);
    assert.ok(isSubset(budget.spec?.selector?.matchLabels, podLabels));
    assert.equal(budget.spec?.minAvailable, 2);
    assert.ok(2 < deployment.spec!.replicas!, 'a drain can still take one node');
  });

  it("the container's port is the Service's target port and every probe's, and each probe GETs /healthz", () => {
    const [service] = ofKind<IService>('Service');
    assert.equal(service?.spec?.ports?.length, 1);
    const servicePort = service!.spec!.ports![0]!;
    assert.equal(servicePort.port, 8080);
    const port = portNumber(container, servicePort.targetPort ?? servicePort.port);
    assert.equal(port, 8080);
    assert.deepEqual(
      container.ports?.map((p) => p.containerPort),
      [port],
    );
    const probes: [string, IProbe | undefined][] = [
      ['readiness', container.readinessProbe],
      ['liveness', container.livenessProbe],
      ['startup', container.startupProbe],
    ];
    for (const [name, probe] of probes) {
      if (name === 'startup' && probe === undefined) continue;
      assert.equal(
        probe?.httpGet?.path,
        '/healthz',
        `${name}: every node answers /healthz, with no token`,
      );
      assert.equal(portNumber(container, probe.httpGet.port), port, name);
    }
  });

  it('the pods run as uid 1000 with no privilege: non-root, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    const podContext = pod.securityContext ?? {};
    const context = container.securityContext ?? {};
    assert.equal(context.runAsNonRoot ?? podContext.runAsNonRoot, true);
    assert.equal(context.runAsUser ?? podContext.runAsUser, 1000);
    assert.equal(context.allowPrivilegeEscalation, false);
    assert.equal(context.readOnlyRootFilesystem, true);
    assert.equal(context.privileged ?? false, false);
    assert.deepEqual(context.capabilities?.drop, ['ALL']);
    assert.equal(context.capabilities?.add, undefined);
    assert.equal((context.seccompProfile ?? podContext.seccompProfile)?.type, 'RuntimeDefault');
    assert.equal(pod.hostNetwork ?? false, false);
    assert.equal(pod.automountServiceAccountToken, false, 'the coordinator never calls the API');
    const tmp = mountOf(container, '/tmp');
    assert.equal(tmp?.mountPath, '/tmp');
    assert.ok(pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, '/tmp is an emptyDir');
    for (const bound of ['requests', 'limits'] as const) {
      assert.ok(container.resources?.[bound]?.['cpu'], `cpu ${bound}`);
      assert.ok(container.resources?.[bound]?.['memory'], `memory ${bound}`);
    }
  });

  it('the replicas spread over machines', () => {
    const spread = (pod.topologySpreadConstraints ?? []).some(
      (c) =>
        c.topologyKey === 'kubernetes.io/hostname' &&
        isSubset(c.labelSelector?.matchLabels, podLabels),
    );
    const apart = [
      ...(pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
      ...(pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map(
        (p) => p.podAffinityTerm,
      ),
    ].some(
      (term) =>
        term.topologyKey === 'kubernetes.io/hostname' &&
        isSubset(term.labelSelector?.matchLabels, podLabels),
    );
    assert.ok(spread || apart);
  });

  describe("the coordinator folder README.md's demo-deployment command writes", () => {
    let out: string;
    let writtenFiles: string[];
    let deployCommand: string[];
    let configFile: string;
    let raw: unknown;

    before(async () => {
      const commands = readmeCommands(readme).filter((c) => c.includes('demo-deployment'));
      assert.equal(commands.length, 1);
      deployCommand = commands[0]!;
      out = await mkdtemp(path.join(tmpdir(), 'fedistill-kubernetes-'));
      const [coordinatorUrl] = option(deployCommand, '--coordinator-url');
      const [postgres] = option(deployCommand, '--postgres');
      assert.ok(coordinatorUrl && postgres, 'the command names the URL and PostgreSQL');
      await writeDeployment(out, { sites: 2, rounds: 1, seed: 5, coordinatorUrl, postgres });
      writtenFiles = (await readdir(path.join(out, 'coordinator'))).sort();
      assert.deepEqual(container.args?.slice(1, 2), ['--config']);
      assert.equal(container.args?.[3], '--serve', 'a node keeps serving after the run');
      configFile = container.args![2]!;
      raw = JSON.parse(await readFile(path.join(out, 'coordinator', 'coordinator.json'), 'utf8'));
    });

    after(async () => {
      await rm(out, { recursive: true, force: true });
    });

    /** The Secret's key that the pod sees at `file`, if a Secret holds it. */
    const secretKeyAt = (file: string): { secret: string; key: string } | undefined => {
      const mount = mountOf(container, file);
      const volume = pod.volumes?.find((v) => v.name === mount?.name);
      if (!mount || !volume?.secret?.secretName) return undefined;
      const key = mount.subPath ?? path.posix.relative(mount.mountPath, file);
      return { secret: volume.secret.secretName, key };
    };

    it('every Secret and ConfigMap the pods use is in the manifests or made by README.md, with the keys they read', () => {
      const [folder] = option(deployCommand, '--out');
      const created = operatorCreated(
        readmeCommands(readme),
        new Map([[`${folder}/coordinator`, writtenFiles]]),
      );
      const inManifests = new Set(
        documents.map((d) => `${d.object.kind}/${(d.object['metadata'] as { name: string }).name}`),
      );
      const used: { ref: string; key?: string }[] = [];
      const fromVolume = (v: IVolume) => [
        ...(v.secret?.secretName ? [{ ref: `Secret/${v.secret.secretName}` }] : []),
        ...(v.configMap?.name ? [{ ref: `ConfigMap/${v.configMap.name}` }] : []),
        ...(v.projected?.sources ?? []).flatMap((s) => [
          ...(s.secret?.name ? [{ ref: `Secret/${s.secret.name}` }] : []),
          ...(s.configMap?.name ? [{ ref: `ConfigMap/${s.configMap.name}` }] : []),
        ]),
      ];
      for (const v of pod.volumes ?? []) used.push(...fromVolume(v));
      for (const m of container.volumeMounts ?? []) {
        const volume = pod.volumes?.find((v) => v.name === m.name);
        const name = volume?.secret?.secretName;
        if (name && m.subPath) used.push({ ref: `Secret/${name}`, key: m.subPath });
      }
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        for (const e of c.env ?? []) {
          const s = e.valueFrom?.secretKeyRef;
          const m = e.valueFrom?.configMapKeyRef;
          if (s) used.push({ ref: `Secret/${s.name}`, key: s.key });
          if (m) used.push({ ref: `ConfigMap/${m.name}`, key: m.key });
        }
        for (const e of c.envFrom ?? []) {
          if (e.secretRef) used.push({ ref: `Secret/${e.secretRef.name}` });
          if (e.configMapRef) used.push({ ref: `ConfigMap/${e.configMapRef.name}` });
        }
      }
      assert.ok(used.length > 0);
      for (const { ref, key } of used) {
        if (inManifests.has(ref)) continue;
        const keys = created.get(ref);
        assert.ok(keys, `${ref} is neither in the manifests nor created in README.md`);
        if (key) assert.ok(keys.has(key), `${ref} as README.md creates it has no key ${key}`);
      }
    });

    it('it runs as mounted: each file it reads is mounted read-only, each path it writes is on an emptyDir', () => {
      const config = parseCoordinatorConfig(raw, path.posix.dirname(configFile));
      const reads = [
        configFile,
        config.identityFile,
        config.allowListFile,
        config.data.publicSplit,
        config.data.heldOut,
      ];
      for (const file of reads) {
        assert.ok(mountOf(container, file)?.readOnly, `${file} is read-only`);
        const at = secretKeyAt(file);
        assert.ok(at, `${file} comes from a Secret`);
        assert.ok(writtenFiles.includes(at.key), `${file}: the folder has no ${at.key}`);
      }
      const writes = [
        config.cacheDir,
        config.reportFile,
        config.exportDir!,
        // Runs started through the API export beside the store.
        path.posix.join(path.posix.dirname(config.storeFile), 'exports'),
        '/tmp',
      ];
      for (const file of writes) {
        const mount = mountOf(container, file);
        assert.ok(mount, `${file} is on the read-only root`);
        assert.ok(!mount.readOnly && !mount.subPath, `${file} is under a read-only mount`);
        const volume = pod.volumes?.find((v) => v.name === mount.name);
        assert.ok(volume?.emptyDir, `${file}: a pod keeps nothing of its own`);
      }
      const imports = mountOf(container, config.operatorFiles.dir);
      assert.equal(imports?.mountPath, config.operatorFiles.dir, 'teacher files have their folder');
      assert.ok(imports.readOnly);
    });

    it('it listens on 0.0.0.0 at the container port, keeps its state in PostgreSQL, and the password comes from a Secret', () => {
      const config = parseCoordinatorConfig(raw, path.posix.dirname(configFile));
      assert.equal(config.listen.host, '0.0.0.0');
      assert.equal(config.listen.port, container.ports?.[0]?.containerPort);
      assert.equal(config.store.kind, 'postgres');
      assert.equal(config.tls, undefined, 'the probes speak plain HTTP');
      assert.ok(
        config.store.kind === 'postgres' && !new URL(config.store.url).password,
        'no password in the config',
      );
      const password = container.env?.find((e) => e.name === 'PGPASSWORD');
      assert.equal(password?.value, undefined);
      assert.ok(password?.valueFrom?.secretKeyRef, 'PGPASSWORD from a Secret');
    });
  });
});
