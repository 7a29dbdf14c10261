// docs/values.md is generated from the schema; the committed copy must be the current output, and
// it must document every option the schema knows.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { renderValuesDoc, VALUES_DOC } from '../../scripts/helm-docs.ts';
import { loadSchema, optionPaths } from './values-fixtures.ts';

const committed = readFileSync(VALUES_DOC, 'utf8');
t.equal(committed, renderValuesDoc(), 'docs/values.md is up to date (regenerate with: node scripts/helm-docs.ts)');
for (const { path, node } of optionPaths(loadSchema())) {
  t.ok(committed.includes(`| \`${path}\` |`), `documents ${path}`);
  t.ok((node.description ?? '') !== '', `${path} has a description in the schema`);
}
