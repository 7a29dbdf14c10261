// A small gRPC service for the mesh tests, defined without a .proto: messages are JSON in the gRPC
// length-prefixed frames (grpc-js takes any serializer), which keeps the wire real — HTTP/2,
// content-type application/grpc, grpc-status trailers — without a code generator.
import type { ServiceDefinition } from '@grpc/grpc-js';

export interface EchoMessage {
  text: string;
  seq: number;
}

const serialize = (m: EchoMessage): Buffer => Buffer.from(JSON.stringify(m));
const deserialize = (b: Buffer): EchoMessage => JSON.parse(b.toString('utf8')) as EchoMessage;
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: serialize,
  requestDeserialize: deserialize,
  responseSerialize: serialize,
  responseDeserialize: deserialize,
});

export const echoService: ServiceDefinition = {
  unary: method('/weft.test.Echo/Unary', false, false),
  serverStream: method('/weft.test.Echo/ServerStream', false, true),
  clientStream: method('/weft.test.Echo/ClientStream', true, false),
  bidi: method('/weft.test.Echo/Bidi', true, true),
};
