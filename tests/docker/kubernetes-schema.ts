import path from 'node:path';
import ts from 'typescript';

/** An object as a manifest holds it: the API's type meta and whatever else the document says. */
export interface ManifestObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly [field: string]: unknown;
}

/** One document of a manifest file, named for messages (`coordinator-service.yaml#0`). */
export interface ManifestDocument {
  readonly name: string;
  readonly object: ManifestObject;
}

/** What the validator refused in one document. */
export interface SchemaIssue {
  readonly document: string;
  readonly message: string;
}

/** Where kubernetes-models keeps a kind: `kubernetes-models/apps/v1/Deployment`, `.../v1/Service`. */
function modelModule(object: ManifestObject): string {
  return `kubernetes-models/${object.apiVersion}/${object.kind}`;
}

/**
 * Checks each document against the Kubernetes API's schema as the kubernetes-models package
 * ships it, in two ways, and returns every issue found:
 * - its model classes' `validate()`: the API's OpenAPI schema compiled with ajv (types, required
 *   fields, enums, formats). That schema lets unknown fields through, as OpenAPI does.
 * - its TypeScript declarations, with each document as an object literal of its kind's type:
 *   TypeScript's excess property check refuses a field the API lacks, at any depth. `kubectl
 *   apply` refuses one too (strict field validation), so a misspelt field must fail here first.
 * `root` is where the package resolves from (the repository root).
 */
export async function validateManifests(
  documents: readonly ManifestDocument[],
  root: string,
): Promise<SchemaIssue[]> {
  return [...(await validateWithSchema(documents)), ...validateWithDeclarations(documents, root)];
}

async function validateWithSchema(documents: readonly ManifestDocument[]): Promise<SchemaIssue[]> {
  const issues: SchemaIssue[] = [];
  for (const { name, object } of documents) {
    let exported: Record<string, unknown>;
    try {
      exported = (await import(modelModule(object))) as Record<string, unknown>;
    } catch {
      issues.push({
        document: name,
        message: `kubernetes-models has no ${object.apiVersion} ${object.kind}`,
      });
      continue;
    }
    const Model = exported[object.kind] as new (data: ManifestObject) => { validate(): void };
    try {
      new Model(object).validate();
    } catch (error) {
      issues.push({ document: name, message: (error as Error).message });
    }
  }
  return issues;
}

function validateWithDeclarations(
  documents: readonly ManifestDocument[],
  root: string,
): SchemaIssue[] {
  const file = path.join(root, 'kubernetes-manifests.check.mts');
  const spans: { name: string; start: number; end: number }[] = [];
  let source = '';
  documents.forEach(({ name, object }, i) => {
    const start = source.length;
    source += `import type { I${object.kind} as T${i} } from '${modelModule(object)}';\n`;
    source += `export const document${i}: T${i} = ${JSON.stringify(object, null, 2)};\n`;
    spans.push({ name, start, end: source.length });
  });
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: [],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const readSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) =>
    fileName === file
      ? ts.createSourceFile(fileName, source, languageVersion)
      : readSourceFile(fileName, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => fileName === file || fileExists(fileName);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((diagnostic) => ({
    document:
      spans.find(
        (s) =>
          diagnostic.start !== undefined && diagnostic.start >= s.start && diagnostic.start < s.end,
      )?.name ?? file,
    message: ts.flattenDiagnosticMessageText(diagnostic.messageText, ' '),
  }));
}
