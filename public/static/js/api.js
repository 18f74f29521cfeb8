// The REST API as the pages use it: JSON in and out, the CSRF header on unsafe requests,
// and one error type carrying the API's envelope ({code, message, fields}).

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
let csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";

/** An API answer that was not 2xx: status, code, message and per-field reasons. */
export class ApiRequestError extends Error {
  constructor(status, error = {}) {
    super(error.message || `Request failed (${status}).`);
    this.status = status;
    this.code = error.code || "network_error";
    this.fields = error.fields || {};
  }
}

/** Remember the CSRF token an answer carries (register, login and /auth/me hand out new ones). */
export function rememberCsrf(body) {
  if (body && typeof body.csrf_token === "string") csrfToken = body.csrf_token;
}

function headersFor(method, hasJsonBody) {
  const headers = { Accept: "application/json" };
  if (hasJsonBody) headers["Content-Type"] = "application/json";
  if (!SAFE_METHODS.has(method) && csrfToken) headers["X-CSRFToken"] = csrfToken;
  return headers;
}

async function readAnswer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new ApiRequestError(response.status, body?.error);
  }
  rememberCsrf(body);
  return body;
}

/**
 * Answers to the same kind of request can arrive out of order: newestOnly() returns start(),
 * and start() returns isNewest(), true while no later start() was made. A loader calls start()
 * before it asks and drops an answer for which isNewest() is false.
 */
export function newestOnly() {
  let newest = 0;
  return () => {
    const ticket = ++newest;
    return () => ticket === newest;
  };
}

/** Call the API: api("POST", "/rooms", {name}) resolves to the JSON body or throws ApiRequestError. */
export async function api(method, path, body = undefined) {
  const hasBody = body !== undefined;
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: headersFor(method, hasBody),
      body: hasBody ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiRequestError(0, { code: "network_error", message: "The server cannot be reached." });
  }
  return readAnswer(response);
}

/** POST a multipart form with upload progress (fetch cannot report it); onProgress gets 0..1. */
export function upload(path, formData, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    for (const [name, value] of Object.entries(headersFor("POST", false))) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      const answer = new Response(request.responseText, { status: request.status });
      readAnswer(answer).then(resolve, reject);
    });
    request.addEventListener("error", () =>
      reject(new ApiRequestError(0, { code: "network_error", message: "The upload did not reach the server." })),
    );
    request.send(formData);
  });
}
