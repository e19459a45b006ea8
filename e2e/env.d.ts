// The few Node globals client.ts uses (no @types/node dependency).
declare const process: {
  env: Record<string, string | undefined>;
  exitCode: number | undefined;
};
