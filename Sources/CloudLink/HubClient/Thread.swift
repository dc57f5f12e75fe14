#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` on a new detached thread (the link's one long-lived thread). pthreads directly:
/// `Foundation.Thread` would pull all of Foundation (and its ICU data) into a static device
/// binary for this one call (scripts/bench-publish.sh measures the RSS).
/// Returns 0, or the error number when the thread could not be created (EAGAIN: out of threads).
func startThread(name: String, _ body: @escaping @Sendable () -> Void) -> Int32 {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) {
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let started = pthread_create(&thread, nil, { context in
        guard let context else { return nil }
        let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
        box.body()
        return nil
    }, box)
    guard started == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        return started
    }
    pthread_detach(thread)
    return 0
}
