#!/usr/bin/env bash
# nodetool against node N of the cluster of docker/native/cluster.sh, from the same cassandra-all
# jars the nodes run (org.apache.cassandra.tools.NodeTool over the node's loopback-only JMX port):
#
#   docker/native/nodetool.sh 1 status
#   docker/native/nodetool.sh 2 repair switchboard
#   docker/native/nodetool.sh 3 getendpoints switchboard messages <partition key>
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
source "$HERE/stack.sh" # find_java17, CASS_LIB
n="${1:?usage: $0 N nodetool-arguments… (N = 1, 2 or 3)}"; shift
case "$n" in 1 | 2 | 3) ;; *) die "node must be 1, 2 or 3, not $n" ;; esac
java="$(find_java17)" || die "Java 17 not found (run npm run up -- --cluster first)"
# The module flags of Cassandra 5.0's conf/jvm17-clients.options (the tools touch JDK internals too).
exec "$java" -Xmx128m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true \
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED --add-exports java.base/jdk.internal.ref=ALL-UNNAMED \
  --add-exports java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
  --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/java.lang=ALL-UNNAMED \
  --add-opens java.base/java.io=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED \
  -Dlogback.configurationFile="$HERE/cassandra/logback-tools.xml" \
  -cp "$CASS_LIB/*" org.apache.cassandra.tools.NodeTool \
  -h 127.0.0.1 -p $((${CLUSTER_JMX_BASE_PORT:-7000} + 100 * n)) "$@"
