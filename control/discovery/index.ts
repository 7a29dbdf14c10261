export { type DiscoverySource, type DiscoverySourceContext, type DiscoverySourceFactory, type RecordSink, registerDiscoverySource, createDiscoverySource, discoverySourceNames } from './source.ts';
export { FileSource, FILE_SOURCE, readManifests, type FileSourceOptions } from './file-source.ts';
export { translateObjects, MESH_LABEL, MESH_ANNOTATION, type SourceObject, type TranslateOptions } from './k8s-translate.ts';
