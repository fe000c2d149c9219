import { Type } from 'typebox';

export const InstanceParams = Type.Object({ instanceId: Type.String({ minLength: 1, maxLength: 63 }) });

export const ErrorResponse = Type.Object(
  {
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
    requestId: Type.String(),
  },
  { $id: 'Error' },
);

export const Paging = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  offset: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
});
