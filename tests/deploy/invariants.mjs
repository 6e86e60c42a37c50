// node invariants.mjs [--beside-kube-proxy] FILE...
//
// What the schemas cannot know: that svcrouter's DaemonSet agrees with itself
// and with the agent's command line. Each check is a mistake an edit could
// make without any validator noticing, and that would only show on a node:
// probes on another port than the health server (the pod never gets ready),
// a --cgroup or --pin-dir that is not the host's (routing nothing, or pins
// that vanish with the container), an unload that looks elsewhere than the
// agent pins, write access to the API, a lost capability.
// --beside-kube-proxy: the ports must also differ from kube-proxy's.
// Prints `ok invariants: ...` or each broken rule, and exits 1 if any.
import { describe, readDocs } from "./yaml-docs.mjs";

const args = process.argv.slice(2);
const beside = args[0] === "--beside-kube-proxy";
const files = beside ? args.slice(1) : args;
const objects = files.flatMap((f) => readDocs(f).map((d) => d.object));
const problems = [];
const check = (ok, message) => ok || problems.push(message);

// `--name=value` and `--name value` arguments; a bare flag maps to true.
function flags(argv) {
  const out = new Map();
  for (let i = 0; i < argv.length; i++) {
    const m = /^(--[\w-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) continue;
    if (m[2] !== undefined) out.set(m[1], m[2]);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("-")) out.set(m[1], argv[++i]);
    else out.set(m[1], true);
  }
  return out;
}

// The DaemonSets whose container runs `svcrouter SUBCOMMAND` (the image's
// entrypoint is svcrouter, so args start with the subcommand).
function daemonSetsRunning(subcommand) {
  const found = [];
  for (const o of objects.filter((o) => o.kind === "DaemonSet")) {
    const pod = o.spec?.template?.spec ?? {};
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])])
      if (!c.command && c.args?.[0] === subcommand) found.push({ ds: o, pod, c, f: flags(c.args) });
  }
  return found;
}

// The hostPath behind the mount that holds `path` in container c, or null.
function hostMount(pod, c, path) {
  const mounts = (c.volumeMounts ?? [])
    .filter((m) => path === m.mountPath || path.startsWith(m.mountPath.replace(/\/?$/, "/")))
    .sort((a, b) => b.mountPath.length - a.mountPath.length);
  if (!mounts.length) return null;
  const volume = (pod.volumes ?? []).find((v) => v.name === mounts[0].name);
  return volume?.hostPath ? { mount: mounts[0], hostPath: volume.hostPath.path } : null;
}

const port = (address) => Number(/:(\d+)$/.exec(String(address ?? ""))?.[1]);

const agents = daemonSetsRunning("run");
check(agents.length === 1, `expected one DaemonSet running \`svcrouter run\`, found ${agents.length}`);
for (const { ds, pod, c, f } of agents) {
  const who = `${describe(ds)}, container ${c.name}`;
  check(f.get("--kubernetes") === true, `${who}: runs without --kubernetes`);
  check(pod.hostNetwork === true, `${who}: hostNetwork must be true (health port on the node's address)`);

  const healthz = port(f.get("--healthz-bind-address"));
  const metrics = port(f.get("--metrics-bind-address"));
  check(healthz > 0, `${who}: --healthz-bind-address ADDR:PORT missing`);
  check(metrics > 0, `${who}: --metrics-bind-address ADDR:PORT missing`);
  for (const [probe, path] of [["livenessProbe", "/livez"], ["readinessProbe", "/healthz"]]) {
    const get = c[probe]?.httpGet;
    check(get?.path === path, `${who}: ${probe} must GET ${path}, not ${get?.path}`);
    check(Number(get?.port) === healthz,
      `${who}: ${probe} probes port ${get?.port}, the health server listens on ${healthz}`);
  }
  if (beside)
    for (const [name, p] of [["metrics", metrics], ["healthz", healthz]])
      check(![10249, 10256].includes(p), `${who}: ${name} port ${p} is kube-proxy's: both cannot bind it`);

  const nodeName = (c.env ?? []).find((e) => e.name === "NODE_NAME");
  check(nodeName?.valueFrom?.fieldRef?.fieldPath === "spec.nodeName",
    `${who}: NODE_NAME must come from the downward API's spec.nodeName`);
  if (f.has("--node-name"))
    check(f.get("--node-name") === "$(NODE_NAME)", `${who}: --node-name must be $(NODE_NAME)`);

  const cgroup = f.get("--cgroup");
  const cg = typeof cgroup === "string" && hostMount(pod, c, cgroup);
  check(cg && cg.mount.mountPath === cgroup,
    `${who}: --cgroup ${cgroup} must be the mount point of a hostPath volume (the host's cgroup v2 root)`);
  check(cg && /^\/sys\/fs\/cgroup(\/unified)?\/?$/.test(cg.hostPath),
    `${who}: --cgroup's volume is ${cg?.hostPath}, not the host's cgroup v2 root (/sys/fs/cgroup or /sys/fs/cgroup/unified)`);

  const pinDir = f.get("--pin-dir");
  const pins = typeof pinDir === "string" && hostMount(pod, c, pinDir);
  check(pins?.hostPath === "/sys/fs/bpf", `${who}: --pin-dir ${pinDir} must be in the host's /sys/fs/bpf (a hostPath volume)`);
  check(["HostToContainer", "Bidirectional"].includes(pins?.mount?.mountPropagation),
    `${who}: the bpffs mount must receive the host's mounts (mountPropagation HostToContainer)`);

  const sc = c.securityContext ?? {};
  const caps = new Set(sc.capabilities?.add ?? []);
  if (sc.privileged !== true) {
    // Measured: BPF and NET_ADMIN load and attach; 6.1's verifier also wants
    // PERFMON, which SYS_ADMIN implies.
    for (const cap of ["BPF", "NET_ADMIN"]) check(caps.has(cap), `${who}: lacks capability ${cap}`);
    check(caps.has("PERFMON") || caps.has("SYS_ADMIN"), `${who}: lacks capability PERFMON (or SYS_ADMIN)`);
  }

  // Read-only access to the API: get/list/watch of what the agent follows.
  const sa = pod.serviceAccountName;
  const bindings = objects.filter((o) => o.kind === "ClusterRoleBinding" &&
    (o.subjects ?? []).some((s) => s.kind === "ServiceAccount" && s.name === sa && s.namespace === ds.metadata.namespace));
  check(bindings.length === 1, `${who}: service account ${sa} needs one ClusterRoleBinding, has ${bindings.length}`);
  for (const b of bindings) {
    const role = objects.find((o) => o.kind === "ClusterRole" && o.metadata?.name === b.roleRef?.name);
    check(role, `${describe(b)}: ClusterRole ${b.roleRef?.name} is not in these files`);
    const granted = new Set();
    for (const rule of role?.rules ?? []) {
      for (const verb of rule.verbs ?? [])
        check(["get", "list", "watch"].includes(verb), `${describe(role)}: grants ${verb}: the agent only reads`);
      for (const g of rule.apiGroups ?? []) for (const r of rule.resources ?? []) granted.add(`${g}/${r}`);
    }
    const want = ["/services", "/nodes", "discovery.k8s.io/endpointslices"];
    check(want.every((w) => granted.has(w)) && granted.size === want.length,
      `${describe(role)}: grants ${[...granted].join(", ")}; expected exactly ${want.join(", ")}`);
  }
}

// The rollback's unload must look where the agent pins.
const agentPins = agents[0]?.f.get("--pin-dir");
for (const { ds, pod, c, f } of daemonSetsRunning("unload")) {
  const who = `${describe(ds)}, container ${c.name}`;
  check(f.get("--pin-dir") === agentPins, `${who}: unloads ${f.get("--pin-dir")}, the agent pins in ${agentPins}`);
  check(hostMount(pod, c, String(f.get("--pin-dir")))?.hostPath === "/sys/fs/bpf",
    `${who}: --pin-dir must be in the host's /sys/fs/bpf`);
}

if (problems.length) {
  for (const p of problems) console.log(`invariant broken: ${p}`);
  process.exit(1);
}
console.log(`ok invariants: ${files.join(" ")}${beside ? " (beside kube-proxy)" : ""}`);
