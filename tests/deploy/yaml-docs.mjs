// Reads a file of YAML documents as kubectl does, for validate.mjs and
// invariants.mjs.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// Kubernetes reads YAML with go-yaml v2 (sigs.k8s.io/yaml): YAML 1.1, where
// `yes` is a boolean and 0644 an octal number, and merge keys (<<) work. A
// timestamp stays a string (it becomes JSON), so the 1.1 timestamp type is
// left out.
const options = {
  version: "1.1",
  merge: true,
  customTags: (tags) => tags.filter((t) => t.tag !== "tag:yaml.org,2002:timestamp"),
};

// Returns [{file, index (1-based), object}] for every non-empty document, or
// throws with the file, document and YAML error.
export function readDocs(file) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), options);
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  const out = [];
  docs.forEach((doc, i) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length) throw new Error(`${file}: document ${i + 1}: ${problems[0].message}`);
    const object = doc.toJS({ maxAliasCount: 100 });
    if (object !== null && object !== undefined) out.push({ file, index: i + 1, object });
  });
  return out;
}

// "DaemonSet kube-system/svcrouter", for messages.
export function describe(object) {
  const m = object?.metadata ?? {};
  const name = m.namespace ? `${m.namespace}/${m.name}` : m.name;
  return `${object?.kind ?? "(no kind)"} ${name ?? "(no name)"}`;
}
