import { isObject, type JsonValue } from '../../domain/json-path.js';

export type ParsedMessage =
  | { ok: true; datasetRef: string | undefined; record: JsonValue }
  | { ok: false; code: string; message: string };

/**
 * Reads one streaming message in either accepted shape:
 * Adobe's envelope `{header: {datasetId}, body: {xdmEntity}}` or the plain `{datasetId, record}`.
 */
export function parseMessage(message: JsonValue): ParsedMessage {
  if (!isObject(message)) return { ok: false, code: 'invalid_message', message: 'a message must be a JSON object' };
  const body = message['body'];
  if (isObject(body) && 'xdmEntity' in body) {
    const header = message['header'];
    const datasetId = isObject(header) && typeof header['datasetId'] === 'string' ? header['datasetId'] : undefined;
    return { ok: true, datasetRef: datasetId, record: body['xdmEntity']! };
  }
  if ('record' in message) {
    const datasetId = typeof message['datasetId'] === 'string' ? message['datasetId'] : undefined;
    return { ok: true, datasetRef: datasetId, record: message['record']! };
  }
  return {
    ok: false,
    code: 'invalid_message',
    message: 'a message is either {"header": {"datasetId"}, "body": {"xdmEntity": {...}}} or {"datasetId", "record": {...}}',
  };
}
