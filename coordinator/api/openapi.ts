import { z } from 'zod';
import {
  apiErrorSchema,
  enrolSiteSchema,
  runSpecBodySchema,
  runStatusSchema,
  siteStatusSchema,
} from './api-schemas.js';
import {
  auditEntrySchema,
  auditLogExportSchema,
  auditPageSchema,
  auditQuerySchema,
  dashboardSessionSchema,
  sessionRequestSchema,
  signedTreeHeadSchema,
  treeHeadsViewSchema,
} from '../../protocol/index.js';
import type { Role } from './tokens.js';

interface ApiRoute {
  readonly method: 'get' | 'post' | 'delete';
  readonly path: string;
  readonly summary: string;
  /** Who may call it: operators only, any token (operators and auditors), or anyone (login). */
  readonly role: Role | 'any' | 'public';
  readonly body?: z.ZodType;
  /** Query-string parameters, as an object schema. */
  readonly query?: z.ZodObject;
  /** Absent when the answer has no body (204). */
  readonly response?: z.ZodType;
  readonly status?: number;
}

const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const nameParameter = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const seqParameter = { name: 'seq', in: 'path', required: true, schema: { type: 'integer' } };

/** The API as served; a test checks that every controller route is listed here and no more. */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/api/runs',
    summary: 'List runs, newest first',
    role: 'any',
    response: z.array(runStatusSchema),
  },
  {
    method: 'post',
    path: '/api/runs',
    summary: 'Create a run from a run spec (not started)',
    role: 'operator',
    body: runSpecBodySchema,
    response: runStatusSchema,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/runs/{id}',
    summary: "A run's status (live state while active)",
    role: 'any',
    response: runStatusSchema,
  },
  {
    method: 'get',
    path: '/api/runs/{id}/report',
    summary: "A completed run's report",
    role: 'any',
    response: z.record(z.string(), z.unknown()),
  },
  {
    method: 'post',
    path: '/api/runs/{id}/start',
    summary: 'Start a created run (one run is active at a time)',
    role: 'operator',
    response: runStatusSchema,
  },
  {
    method: 'post',
    path: '/api/runs/{id}/pause',
    summary: 'Open no new round until resumed; an open round closes as usual',
    role: 'operator',
    response: runStatusSchema,
  },
  {
    method: 'post',
    path: '/api/runs/{id}/resume',
    summary: 'Resume a paused run',
    role: 'operator',
    response: runStatusSchema,
  },
  {
    method: 'post',
    path: '/api/runs/{id}/cancel',
    summary: 'Cancel a run: the open round is dropped and sites are told',
    role: 'operator',
    response: runStatusSchema,
  },
  {
    method: 'get',
    path: '/api/sites',
    summary: 'The site registry: enrolled and revoked sites, connected or not',
    role: 'any',
    response: z.array(siteStatusSchema),
  },
  {
    method: 'post',
    path: '/api/sites',
    summary: "Enrol a site's public key",
    role: 'operator',
    body: enrolSiteSchema,
    response: z.array(siteStatusSchema),
    status: 201,
  },
  {
    method: 'get',
    path: '/api/audit',
    summary: 'The audit log: every entry and signed tree head',
    role: 'any',
    response: auditLogExportSchema,
  },
  {
    method: 'post',
    path: '/api/audit/tree-heads',
    summary: 'Sign the log as it stands now',
    role: 'any',
    response: signedTreeHeadSchema,
    status: 201,
  },
  {
    method: 'get',
    path: '/api/audit/proof/{seq}',
    summary: 'An entry with its inclusion proof under the latest signed tree head',
    role: 'any',
    response: z.object({
      entry: auditEntrySchema,
      leafHash: z.string(),
      treeHead: signedTreeHeadSchema,
      proof: z.array(z.string()),
    }),
  },
  {
    method: 'get',
    path: '/api/audit/entries',
    summary: 'A page of the audit log, newest first, filtered by event, site, run and round',
    role: 'any',
    query: auditQuerySchema,
    response: auditPageSchema,
  },
  {
    method: 'get',
    path: '/api/audit/tree-heads',
    summary: 'Every signed tree head, and the stored log checked against them',
    role: 'any',
    response: treeHeadsViewSchema,
  },
  {
    method: 'post',
    path: '/api/sessions',
    summary:
      'Trade an API token or a one-time login token (used up) for a short-lived dashboard session token',
    role: 'public',
    body: sessionRequestSchema,
    response: dashboardSessionSchema,
    status: 201,
  },
  {
    method: 'delete',
    path: '/api/sessions/current',
    summary: 'Log the dashboard session out (its token is revoked)',
    role: 'any',
    status: 204,
  },
  {
    method: 'post',
    path: '/api/sites/{name}/revoke',
    summary: 'Revoke a site: its key is refused and its session closed',
    role: 'operator',
    response: z.array(siteStatusSchema),
  },
];

const json = (schema: z.ZodType, io: 'input' | 'output') => ({
  'application/json': { schema: z.toJSONSchema(schema, { io, unrepresentable: 'any' }) },
});

/** The OpenAPI 3.1 document of the REST API, built from the same zod schemas that check it. */
export function openApiDocument(version: string): Record<string, unknown> {
  const error = (description: string) => ({ description, content: json(apiErrorSchema, 'output') });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    const parameters = [
      ...(route.path.includes('{id}') ? [idParameter] : []),
      ...(route.path.includes('{name}') ? [nameParameter] : []),
      ...(route.path.includes('{seq}') ? [seqParameter] : []),
      ...Object.entries(route.query?.shape ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema: z.toJSONSchema(schema as z.ZodType, { io: 'input', unrepresentable: 'any' }),
      })),
    ];
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      ...(route.role === 'operator' ? { description: 'Operators only.' } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: json(route.body, 'input') } }
        : {}),
      ...(route.role === 'public' ? { security: [] } : {}),
      responses: {
        [String(route.status ?? 200)]: {
          description: 'OK',
          ...(route.response ? { content: json(route.response, 'output') } : {}),
        },
        '400': error('The request is invalid (code, message, path)'),
        '401': error('No token, or an unknown, revoked or expired one'),
        ...(route.role === 'operator' ? { '403': error('An auditor token') } : {}),
        ...(route.path.includes('{id}') || route.path.includes('{seq}')
          ? { '404': error('No such run or entry') }
          : {}),
        ...(route.method === 'post' && route.path.includes('{id}')
          ? { '409': error("Not allowed in the run's state") }
          : {}),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'fedistill coordinator',
      version,
      description:
        'Runs and sites of a federated distillation. Authenticate with "Authorization: Bearer <token>" (fedistill token create); auditor tokens read, operator tokens also change.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ bearer: [] }],
    paths,
  };
}
