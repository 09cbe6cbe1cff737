/**
 * `loadOnnx`: an ONNX model as a Strata Module. Initializers become Parameters under their ONNX
 * names (so stateDict, freezing and training work as on any Module); nodes run through the
 * operator table in `ops.ts`, in graph order, each call building Strata's lazy graph.
 */
import { getDefaultDevice } from "../../engine/device.ts";
import { isFloat } from "../../ir/dtype.ts";
import { Module } from "../../nn/module.ts";
import { Parameter } from "../../nn/parameter.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { Attrs, OPS, type OpCtx } from "./ops.ts";
import "./ops-extra.ts";
import { ModelProto, type OnnxGraph, type OnnxModelProto } from "./schema.ts";
import { int, OnnxError, tensorFromProto, type TensorLoadOpts } from "./tensor-proto.ts";

/** A model uses operators the importer does not have; `ops` lists each (with its domain). */
export class UnsupportedOperatorError extends OnnxError {
  override name = "UnsupportedOperatorError";
  constructor(readonly ops: string[]) {
    super(`loadOnnx: unsupported operator${ops.length > 1 ? "s" : ""}: ${ops.join(", ")}`);
  }
}

export interface LoadOnnxOpts {
  /** Device of the parameters and constants (default: the default device). */
  device?: string;
  /** Largest element count of one tensor in the file (default 2^31 - 1). */
  maxElements?: number;
}

const DEFAULT_DOMAINS = new Set(["", "ai.onnx"]);

/** Decodes a ModelProto from bytes, with ONNX's error wrapping. */
export function decodeModel(bytes: Uint8Array): OnnxModelProto {
  try {
    return ModelProto.decode(bytes) as unknown as OnnxModelProto;
  } catch (e) {
    throw new OnnxError(`loadOnnx: not a valid ONNX model (${(e as Error).message})`);
  }
}

/** Every op type in a graph and its subgraphs that the table lacks, as "domain::Op" or "Op". */
function unsupportedOps(g: OnnxGraph, out: Set<string>, opsetOf: (domain: string) => number | undefined): void {
  for (const n of g.node) {
    const domain = n.domain ?? "";
    if (!DEFAULT_DOMAINS.has(domain)) out.add(`${domain}::${n.opType}`);
    else if (!OPS[n.opType]) out.add(n.opType);
    if (opsetOf(domain) === undefined && DEFAULT_DOMAINS.has(domain)) out.add(`${n.opType} (no opset imported for the default domain)`);
    for (const a of n.attribute) {
      if (a.g) unsupportedOps(a.g, out, opsetOf);
      for (const sg of a.graphs ?? []) unsupportedOps(sg, out, opsetOf);
    }
  }
}

/**
 * An imported ONNX graph. `run({ name: tensor })` returns `{ outputName: tensor }`;
 * `forward(...inputs)` takes the graph's inputs in order and returns its output (or outputs).
 */
export class OnnxModule extends Module {
  /** Graph input names (without initializers), in order. */
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly opset: number;
  readonly producer: string;
  /** @internal */
  private readonly _graph: OnnxGraph;
  /** @internal Initializers by ONNX name. */
  private readonly _inits = new Map<string, Parameter>();
  /** @internal */
  private readonly _tensorOpts: TensorLoadOpts;
  /** @internal */
  private readonly _device: string;

  constructor(model: OnnxModelProto, opts: LoadOnnxOpts & TensorLoadOpts = {}) {
    super();
    const graph = model.graph;
    if (!graph) throw new OnnxError("loadOnnx: the model has no graph");
    this._graph = graph;
    this._device = opts.device ?? getDefaultDevice();
    this._tensorOpts = { ...opts, device: this._device };
    const opsets = new Map(model.opsetImport.map((o) => [o.domain ?? "", int(o.version, "opset version")]));
    const opset = opsets.get("") ?? opsets.get("ai.onnx");
    const bad = new Set<string>();
    unsupportedOps(graph, bad, (d) => (DEFAULT_DOMAINS.has(d) ? opset : opsets.get(d)));
    if (bad.size) throw new UnsupportedOperatorError([...bad].sort());
    this.opset = opset ?? 0;
    this.producer = model.producerName ?? "";
    for (const t of graph.initializer) {
      const v = tensorFromProto(t, this._tensorOpts);
      const p = new Parameter(v, isFloat(v.dtype));
      this._inits.set(t.name, p);
      this.registerParameter(t.name, p);
    }
    this.inputNames = graph.input.map((i) => i.name).filter((n) => !this._inits.has(n));
    this.outputNames = graph.output.map((o) => o.name);
    // Imported graphs start in eval mode, as they were exported; `train()` enables Dropout.
    this.training = false;
  }

  /** Runs the graph on named inputs. */
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    return this.runSync(feeds);
  }

  /** `run` without the Promise (values that decide shapes are read with dataSync). */
  runSync(feeds: Record<string, Tensor>): Record<string, Tensor> {
    for (const n of this.inputNames) if (!(n in feeds)) throw new OnnxError(`OnnxModule.run: missing input '${n}' (inputs: ${this.inputNames.join(", ")})`);
    const env = new Map<string, Tensor>(this._inits);
    for (const [k, v] of Object.entries(feeds)) env.set(k, v);
    const outs = this._runGraph(this._graph, env);
    return Object.fromEntries(this.outputNames.map((n, i) => [n, outs[i]!]));
  }

  forward(...inputs: Tensor[]): Tensor | Tensor[] {
    if (inputs.length !== this.inputNames.length) throw new OnnxError(`OnnxModule.forward: expected ${this.inputNames.length} inputs (${this.inputNames.join(", ")}), got ${inputs.length}`);
    const out = this.runSync(Object.fromEntries(this.inputNames.map((n, i) => [n, inputs[i]!])));
    const list = this.outputNames.map((n) => out[n]!);
    return list.length === 1 ? list[0]! : list;
  }

  /** @internal Runs the nodes of a graph over `env` (which holds the enclosing scope's values). */
  private _runGraph(g: OnnxGraph, env: Map<string, Tensor>): Tensor[] {
    for (const node of g.node) {
      const fn = OPS[node.opType]!;
      const inputs = node.input.map((name) => {
        if (!name) return null;
        const t = env.get(name);
        if (!t) throw new OnnxError(`${node.opType} '${node.name}': input '${name}' is not defined before it is used`);
        return t;
      });
      const ctx: OpCtx = {
        node, opset: this.opset, inputs, nOut: node.output.length, training: this.training, device: this._device,
        a: new Attrs(node.attribute, `${node.opType} '${node.name}'`, this._tensorOpts),
        runGraph: (sub, subInputs) => {
          const scope = new Map(env);
          sub.input.forEach((vi, i) => { if (subInputs[i]) scope.set(vi.name, subInputs[i]!); });
          for (const t of sub.initializer) scope.set(t.name, tensorFromProto(t, this._tensorOpts));
          return this._runGraph(sub, scope);
        },
      };
      let res;
      try {
        res = fn(ctx);
      } catch (e) {
        if (e instanceof OnnxError) throw e;
        const err = new OnnxError(`${node.opType} '${node.name}' (opset ${this.opset}): ${(e as Error).message}`);
        (err as { cause?: unknown }).cause = e;
        throw err;
      }
      const list = Array.isArray(res) ? res : [res];
      node.output.forEach((name, i) => { if (name && list[i]) env.set(name, list[i]!); });
    }
    return g.output.map((o) => {
      const t = env.get(o.name);
      if (!t) throw new OnnxError(`graph output '${o.name}' is not computed by the graph`);
      return t;
    });
  }
}

/**
 * Loads an ONNX model (a file path or the file's bytes) as a Module.
 *
 * @example
 * const m = await st.io.loadOnnx("model.onnx");
 * const { logits } = await m.run({ input: st.randn([1, 3, 224, 224]) });
 */
export async function loadOnnx(pathOrBytes: string | Uint8Array, opts: LoadOnnxOpts = {}): Promise<OnnxModule> {
  const fs = await import("node:fs");
  const path = await import("node:path");
  let bytes: Uint8Array, dir: string | undefined;
  if (typeof pathOrBytes === "string") {
    bytes = await fs.promises.readFile(pathOrBytes);
    dir = path.dirname(path.resolve(pathOrBytes));
  } else bytes = pathOrBytes;
  return new OnnxModule(decodeModel(bytes), { ...opts, dir, fs, path });
}
