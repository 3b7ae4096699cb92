/** Where the coordinator's API is and the token to call it with. */
export interface ApiTarget {
  readonly url: string;
  readonly token: string;
}

/** An API call the coordinator refused: its HTTP status and coded error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message} (HTTP ${status})`);
  }
}

/** One call to the coordinator's REST API; a non-2xx answer becomes an ApiError. */
export async function callApi(
  target: ApiTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(new URL(path, target.url), {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new ApiError(
      0,
      'http.unreachable',
      `cannot reach ${target.url}: ${(error as Error).message}`,
    );
  }
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const error = (parsed ?? {}) as { code?: string; message?: string | string[] };
    throw new ApiError(
      response.status,
      error.code ?? `http.${response.status}`,
      Array.isArray(error.message)
        ? error.message.join('; ')
        : (error.message ?? response.statusText),
    );
  }
  return parsed;
}
