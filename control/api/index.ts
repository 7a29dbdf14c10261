export * from './model.ts';
export * from './stream.ts';
export * from './csr.ts';
export * from './identity.ts';
