/**
 * Writes every sample of the op table (test/op-table.ts) with its PyTorch call as JSON, for
 * scripts/torch_reference.py to run through PyTorch.
 *
 *   npx tsx scripts/export-op-specs.ts [out.json]     (default: /tmp/strata-op-specs.json)
 */
import { writeFileSync } from "node:fs";
import { allSamples, cotangent, sampleSig, sampleSpec } from "../test/op-table.ts";

const out = process.argv[2] ?? "/tmp/strata-op-specs.json";
const samples = allSamples().map(({ entry, sample, index }) => {
  const spec = sampleSpec(entry, sample, index);
  return { ...spec, sig: sampleSig(spec) };
});
// The cotangent formula, spelled out so that the Python side can check it computes the same.
const cotCheck = { n: 9, k: 2, values: cotangent(9, 2) };
writeFileSync(out, JSON.stringify({ version: 1, cotCheck, samples }));
console.log(`wrote ${samples.length} samples to ${out}`);
