// The protocol module: the one import for frame types, error codes and close codes (server and SDK).
export * from './frames';
export * from './error-codes';
export * from './close-codes';
