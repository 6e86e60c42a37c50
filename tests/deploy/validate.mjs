// node validate.mjs FILE...
//
// Checks every Kubernetes object in the YAML files as the API server would on
// `kubectl apply` (whose field validation is strict by default since 1.27):
//
//  1. the object's schema, generated from the API's OpenAPI spec by
//     kubernetes-models: types, enums, required fields, formats;
//  2. unknown fields: the OpenAPI schemas allow them, so (1) cannot see a
//     misspelt field, which an older server or a non-strict client would drop
//     silently (a misspelt readOnlyRootFilesystem is a writable root). The
//     same package's TypeScript interfaces list every field of every type, so
//     the TypeScript checker's excess-property check finds them;
//  3. the rules the API server checks in code, not in the schema, that these
//     manifests could break (apiRules below).
//
// Prints `ok KIND/NAME` per object, or `FILE: document N (KIND NS/NAME): PATH:
// problem`, and exits 1 if anything is wrong. A kind kubernetes-models does
// not know is an error: an object that cannot be checked must not pass.
// Kustomization and Component files are not API objects: only their file
// references are checked.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, readDocs } from "./yaml-docs.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const modelsVersion = createRequire(import.meta.url)("kubernetes-models/package.json").version;
let failures = 0;
const bad = new Set(); // documents with a problem

function fail(doc, path, message) {
  failures++;
  bad.add(doc);
  const where = path ? `${path}: ` : "";
  console.log(`${doc.file}: document ${doc.index} (${describe(doc.object)}): ${where}${message}`);
}

// The model class of apiVersion/kind, or null. Only top-level API objects:
// kubernetes-models also exports nested types (PodSpec, ...) as classes,
// which carry no apiVersion/kind of their own.
async function modelFor(apiVersion, kind) {
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
    return null;
  const module = await import(`kubernetes-models/${apiVersion}/${kind}`).catch(() => null);
  const model = module?.[kind];
  return model?.apiVersion === apiVersion && model?.kind === kind ? model : null;
}

// Rules of the API server's validation code (pkg/apis/core/validation) that
// the schema cannot express.
function apiRules(doc) {
  const o = doc.object;
  if (!o.metadata?.name) fail(doc, "metadata.name", "required");
  const pod = o.kind === "Pod" ? o.spec : o.spec?.template?.spec;
  if (!pod) return;
  const at = o.kind === "Pod" ? "spec" : "spec.template.spec";
  for (const group of ["initContainers", "containers"]) {
    (pod[group] ?? []).forEach((c, i) => {
      const sc = c.securityContext ?? {};
      (c.volumeMounts ?? []).forEach((m, j) => {
        if (m.mountPropagation === "Bidirectional" && sc.privileged !== true)
          fail(doc, `${at}.${group}[${i}].volumeMounts[${j}].mountPropagation`,
            "Bidirectional mount propagation is available only to privileged containers");
      });
      const adds = sc.capabilities?.add ?? [];
      if (sc.allowPrivilegeEscalation === false &&
          (sc.privileged === true || adds.includes("SYS_ADMIN") || adds.includes("CAP_SYS_ADMIN")))
        fail(doc, `${at}.${group}[${i}].securityContext.allowPrivilegeEscalation`,
          "cannot be false with privileged or CAP_SYS_ADMIN");
    });
  }
}

// kustomize files: every file or directory they name must exist.
function kustomizeRefs(doc) {
  const base = dirname(resolve(doc.file));
  const o = doc.object;
  const refs = [...(o.resources ?? []), ...(o.components ?? []),
    ...(o.patches ?? []).map((p) => p.path).filter(Boolean)];
  for (const ref of refs)
    if (!/^[a-z]+:\/\//.test(ref) && !existsSync(join(base, ref)))
      fail(doc, "", `${ref}: no such file or directory`);
}

// JSON text of a value, recording where each field starts and ends, so that
// a TypeScript diagnostic's position maps back to the field's path.
function serialize(value, path, out) {
  const start = out.text.length;
  if (Array.isArray(value)) {
    out.text += "[";
    value.forEach((v, i) => {
      if (i) out.text += ",";
      serialize(v, `${path}[${i}]`, out);
    });
    out.text += "]";
  } else if (value !== null && typeof value === "object") {
    out.text += "{";
    Object.entries(value).forEach(([k, v], i) => {
      if (i) out.text += ",";
      const field = /^[A-Za-z_$][\w$-]*$/.test(k) ? (path ? `${path}.${k}` : k) : `${path}[${JSON.stringify(k)}]`;
      const keyStart = out.text.length;
      out.text += JSON.stringify(k);
      out.spans.push({ start: keyStart, end: out.text.length, path: field });
      out.text += ":";
      serialize(v, field, out);
    });
    out.text += "}";
  } else {
    out.text += JSON.stringify(value);
  }
  out.spans.push({ start, end: out.text.length, path });
}

// (2): one TypeScript program for all objects. Each becomes
// `const oN: IKind = {...};`, typed with kubernetes-models' interface, and the
// checker reports fields the interface lacks and values of the wrong type. The
// file is virtual, placed beside node_modules so that imports resolve.
function typeCheck(checked) {
  const out = { text: "", spans: [] };
  const ranges = [];
  checked.forEach(({ doc }, n) => {
    const { apiVersion, kind } = doc.object;
    out.text += `import type { I${kind} as T${n} } from "kubernetes-models/${apiVersion}/${kind}";\n`;
  });
  checked.forEach(({ doc }, n) => {
    const start = out.text.length;
    out.text += `export const o${n}: T${n} = `;
    serialize(doc.object, "", out);
    out.text += ";\n";
    ranges.push({ start, end: out.text.length, doc });
  });
  const file = join(here, "__objects__.ts");
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, out.text, lang) : getSourceFile.call(host, name, lang, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? out.text : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "; ");
    const range = d.file?.fileName === file && ranges.find((r) => d.start >= r.start && d.start < r.end);
    if (!range) {
      failures++;
      console.log(`type check: ${message}`);
      continue;
    }
    // The innermost field around the position: the one the message is about.
    const span = out.spans
      .filter((s) => d.start >= s.start && d.start < s.end)
      .sort((a, b) => a.end - a.start - (b.end - b.start))[0];
    fail(range.doc, span?.path ?? "", message);
  }
}

const files = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node validate.mjs FILE...");
  process.exit(2);
}
const checked = [];
for (const file of files) {
  let docs;
  try {
    docs = readDocs(file);
  } catch (e) {
    failures++;
    console.log(e.message);
    continue;
  }
  for (const doc of docs) {
    const { apiVersion, kind } = doc.object;
    if (typeof apiVersion === "string" && apiVersion.startsWith("kustomize.config.k8s.io/") &&
        (kind === "Kustomization" || kind === "Component")) {
      kustomizeRefs(doc);
      if (!bad.has(doc)) console.log(`ok ${kind} ${file} (kustomize: its files exist)`);
      continue;
    }
    const Model = await modelFor(apiVersion, kind);
    if (!Model) {
      fail(doc, "", `unknown kind ${apiVersion}/${kind}: kubernetes-models ${modelsVersion} has no such API object, so it cannot be checked`);
      continue;
    }
    try {
      new Model(doc.object).validate();
    } catch (e) {
      fail(doc, "", `schema: ${e.message}`);
    }
    apiRules(doc);
    checked.push({ doc });
  }
}
if (checked.length) typeCheck(checked);
for (const { doc } of checked)
  if (!bad.has(doc)) console.log(`ok ${doc.object.kind}/${doc.object.metadata.name}`);
if (failures) {
  console.log(`${failures} problem(s) in ${files.join(" ")}`);
  process.exit(1);
}
