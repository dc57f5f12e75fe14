#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import FoundationEssentials
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One message waiting for the group commit: everything but its sequence number.
struct PendingRow {
    var kind: OutboxKind
    var capturedAt: Date
    var properties: [UInt8]
    var body: (UInt64) -> [UInt8]
}

/// One producer's call: its rows, and the outcome the committing thread leaves for it.
///
/// Read and written only with the ``CommitQueue``'s lock held (the rows by the committing thread
/// while their producer is blocked waiting), which is what the `@unchecked` stands for.
final class CommitRequest: @unchecked Sendable {
    let rows: [PendingRow]
    var result: Result<[OutboxEntry], OutboxError>?
    /// Set for a submitted (not waited-for) request: called by the committing thread.
    var accepted: (@Sendable (Result<[OutboxEntry], OutboxError>) -> Void)?

    init(_ rows: [PendingRow]) {
        self.rows = rows
    }
}

/// The producers waiting for a group commit, and whether one of them is committing now; a
/// pthread mutex and condition, so the waiting producers sleep until the commit ends.
final class CommitQueue: @unchecked Sendable {
    // Heap-allocated so their addresses never move (pthread objects must not be copied).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Guarded by the mutex.
    private(set) var pending: [CommitRequest] = []
    private(set) var pendingRows = 0
    var committing = false
    var groups = 0
    var committerStarted = false
    var committerFinished = false
    var stopped = false
    var queuedObserver: (@Sendable () -> Void)?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func append(_ request: CommitRequest) {
        pending.append(request)
        pendingRows += request.rows.count
        queuedObserver?()
    }

    func takeAll() -> [CommitRequest] {
        defer {
            pending.removeAll(keepingCapacity: true)
            pendingRows = 0
        }
        return pending
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Sleeps until ``broadcast()`` (with the lock held; it is released while asleep).
    func wait() { pthread_cond_wait(condition, mutex) }
    func broadcast() { pthread_cond_broadcast(condition) }
}

extension CommitQueue {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a new detached thread; false when the system refused one.
    static func detach(_ body: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Darwin)
        var thread: pthread_t?
        #else
        var thread = pthread_t()
        #endif
        let started = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            box.body()
            return nil
        }, box)
        guard started == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return false
        }
        #if canImport(Darwin)
        if let thread { pthread_detach(thread) }
        #else
        pthread_detach(thread)
        #endif
        return true
    }
}
