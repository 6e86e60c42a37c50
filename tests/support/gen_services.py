#!/usr/bin/env python3
"""A large cluster's Services and EndpointSlices, for benchmarks and the
memory tests: N Services (ClusterIP 10.{100+g}.{a}.{b+1}, port 80 named
http) with one EndpointSlice each of E endpoints (10.{200+k+E*g}.{a}.{b+1},
port 8080), where a, b = divmod(i, 250) and g = a // 250.

  gen_services.py yaml N E [--serve IP]           > services.yaml  (a manifest file)
  gen_services.py json N E [--serve IP] [--node NAME] > objects.json (a v1 List, for svcr-apiserver)

--serve IP: Service s0 (10.100.0.1:80) has one endpoint, IP:8080 (a real
backend, for a test to reach); --node names the endpoints' node (JSON:
they are ready, on NAME).
"""
import argparse
import json
import sys


def vip(i):
    a, b = divmod(i, 250)
    return f"10.{100 + a // 250}.{a % 250}.{b + 1}"


def endpoint(i, k, e):
    a, b = divmod(i, 250)
    return f"10.{200 + k + e * (a // 250)}.{a % 250}.{b + 1}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("format", choices=["yaml", "json"])
    p.add_argument("services", type=int)
    p.add_argument("endpoints", type=int)
    p.add_argument("--serve")
    p.add_argument("--node", default="node-a")
    p.add_argument("--namespace", default="bench")
    args = p.parse_args()
    n, e, ns = args.services, args.endpoints, args.namespace
    if 200 + e * (1 + (n - 1) // 62500) > 256:
        sys.exit("too many services or endpoints for the address plan")

    def eps(i):
        if i == 0 and args.serve:
            return [args.serve]
        return [endpoint(i, k, e) for k in range(e)]

    out = sys.stdout
    if args.format == "yaml":
        for i in range(n):
            addrs = ", ".join(f'{{addresses: ["{a}"]}}' for a in eps(i))
            out.write(f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: {ns}}}\n"
                      f"spec: {{clusterIP: {vip(i)}, ports: [{{name: http, port: 80}}]}}\n"
                      f"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                      f"metadata: {{name: s{i}-1, namespace: {ns}, labels: {{kubernetes.io/service-name: s{i}}}}}\n"
                      f"addressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints: [{addrs}]\n")
        return
    items = []
    for i in range(n):
        items.append({"kind": "Service", "apiVersion": "v1", "metadata": {"name": f"s{i}", "namespace": ns},
                      "spec": {"clusterIP": vip(i), "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        items.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                      "metadata": {"name": f"s{i}-1", "namespace": ns,
                                   "labels": {"kubernetes.io/service-name": f"s{i}"}},
                      "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                      "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": args.node}
                                    for a in eps(i)]})
    json.dump({"kind": "List", "apiVersion": "v1", "items": items}, out)


if __name__ == "__main__":
    main()
