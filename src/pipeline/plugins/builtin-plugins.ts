/** The built-in plugin registry; `runPipeline(settings, { plugins })` adds or overrides entries by name. */
import type { PluginDefinition } from '../engine/plugin-api.js';
import { httpTransform } from './http-transform.js';
import { csvSink, databaseSink, jsonSink } from './sink-plugins.js';
import { csvSource, jsonSource } from './source-plugins.js';
import { fieldMapperTransform, jsonExplodeTransform, keywordFilterTransform, passthroughTransform, truncateTransform } from './transform-plugins.js';

export const BUILTIN_PLUGINS: readonly PluginDefinition[] = [
  csvSource,
  jsonSource,
  passthroughTransform,
  fieldMapperTransform,
  truncateTransform,
  keywordFilterTransform,
  jsonExplodeTransform,
  httpTransform,
  csvSink,
  jsonSink,
  databaseSink,
];
