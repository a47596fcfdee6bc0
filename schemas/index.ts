/**
 * Locates and loads the schema files shipped in `schemas/`: the OVSDB schemas
 * (`vswitch.ovsschema`, `_Server.ovsschema`) and the JSON Schema of the OVSDB schema format
 * (`ovsdb-schema.schema.json`). Works from the source tree (`schemas/index.ts`) and from the
 * build output (`dist/schemas/index.js`, files still read from the package's `schemas/`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The schema files this folder ships. */
export const SCHEMA_FILES = {
  vswitch: 'vswitch.ovsschema',
  server: '_Server.ovsschema',
  ovsdbSchemaFormat: 'ovsdb-schema.schema.json',
} as const;

/** A key of {@link SCHEMA_FILES}. */
export type SchemaFileKey = keyof typeof SCHEMA_FILES;

/**
 * Absolute path of a file in the package's `schemas/` folder. Tries next to this module first
 * (source tree), then `../../schemas/` (this module compiled to `dist/schemas/`). Throws when
 * neither exists.
 */
export function schemaFilePath(file: string): string {
  const candidates = [
    new URL(`./${file}`, import.meta.url),
    new URL(`../../schemas/${file}`, import.meta.url),
  ];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`schema file ${file} not found next to ${fileURLToPath(import.meta.url)}`);
}

/** Reads and JSON-parses one of the shipped schema files. Each call reads the file afresh. */
export function loadSchemaFile(key: SchemaFileKey): unknown {
  return JSON.parse(readFileSync(schemaFilePath(SCHEMA_FILES[key]), 'utf8')) as unknown;
}

/** The text of one of the shipped schema files. */
export function readSchemaText(key: SchemaFileKey): string {
  return readFileSync(schemaFilePath(SCHEMA_FILES[key]), 'utf8');
}
