import { Type, type Static } from '@sinclair/typebox';

/** `GET /api/v1/stats/calls`: the dashboard's figures over a time window. */
export const CallStatsQuery = Type.Object(
  {
    hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 31, description: 'the window ending now, default 24' })),
    bucketMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, description: 'width of a concurrency bucket, default 5' })),
    tz: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone the hours of perHour start in, default UTC' })),
  },
  { additionalProperties: false },
);
export type CallStatsQuery = Static<typeof CallStatsQuery>;

const DispositionCounts = {
  ANSWERED: Type.Integer(),
  CANCELLED: Type.Integer(),
  BUSY: Type.Integer(),
  NO_ANSWER: Type.Integer(),
  FAILED: Type.Integer(),
};

export const CallStats = Type.Object({
  from: Type.String({ format: 'date-time' }),
  until: Type.String({ format: 'date-time' }),
  bucketMinutes: Type.Integer(),
  /** calls up at some moment of each bucket (from the records, plus the calls active now) */
  concurrency: Type.Array(Type.Object({ at: Type.String({ format: 'date-time', description: 'bucket start' }), calls: Type.Integer() })),
  /** calls started in each hour, by disposition */
  perHour: Type.Array(Type.Object({ hour: Type.String({ format: 'date-time' }), ...DispositionCounts })),
  topDomains: Type.Array(Type.Object({ domain: Type.String(), calls: Type.Integer(), answered: Type.Integer() })),
  active: Type.Integer({ description: 'calls active now on this site' }),
});
export type CallStats = Static<typeof CallStats>;
