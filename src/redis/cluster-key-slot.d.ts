/** The slot algorithm ioredis itself uses (CRC16 of the key or its hash tag, mod 16384); the package ships no types. */
declare module 'cluster-key-slot' {
  function calculateSlot(key: string | Buffer): number;
  export = calculateSlot;
}
