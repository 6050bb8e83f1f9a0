// HandOffNetlinkSockets: how a one-shot tool process (hostport-cni,
// hostportctl add/remove/sync) exits without waiting for the kernel's
// reclaim of what it deleted, and without making the next change wait.
//
// After a transaction that deleted something, the kernel (6.x) frees it after
// an RCU grace period (about 20 ms here), and the last close of any nftables
// netlink socket before then waits for that, holding the network namespace's
// nftables commit lock: whoever closes first pays, and every change behind
// the lock waits. HandOffNetlinkSockets forks a child that keeps the
// process's netlink sockets open until the process has exited, waits a grace
// period of its own (membarrier, which holds no lock; 50 ms where the kernel
// lacks it) and exits; by then the reclaim is done and closing costs nothing.
//
// Promises: the child closes every other descriptor first, stdout and stderr
// last, so a caller that sees their EOF knows the state directory's lock is
// closed too; it holds nothing anyone waits for. Does nothing when no netlink
// socket is open.
// Requires: every change is committed and all output written (stdout and
// stderr are flushed here); the process exits soon after (the child waits for
// it); single-threaded.
#ifndef HOSTPORT_TOOLS_NETLINK_HANDOFF_H_
#define HOSTPORT_TOOLS_NETLINK_HANDOFF_H_

namespace hostport {

void HandOffNetlinkSockets();

}  // namespace hostport

#endif  // HOSTPORT_TOOLS_NETLINK_HANDOFF_H_
