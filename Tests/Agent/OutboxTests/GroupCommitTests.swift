import Dispatch
import Foundation
@testable import Outbox
import Synchronization
import TestSupport
import Testing

@Suite struct GroupCommitTests {
    /// Producer A is inside its commit (its body builder blocks); B and C arrive meanwhile. None
    /// of them returns before A's transaction is committed; B and C then share one transaction,
    /// and everything returned is in the file.
    @Test func producersQueuedDuringACommitShareTheNextOneAndReturnOnlyAfterTheirCommit() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let outbox = try Outbox(directory: folder.stateDirectory, logger: LogRecorder().logger)
        let queued = DispatchSemaphore(value: 0)
        let inCommit = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let returned = Mutex<[UInt64]>([])
        outbox.observeQueued { queued.signal() }
        let producers = DispatchGroup()
        DispatchQueue.global().async(group: producers) {
            let entry = try? outbox.enqueue(kind: .aggregate, capturedAt: Date()) { seq in
                inCommit.signal()
                release.wait()
                return Array("{\"seq\":\(seq)}".utf8)
            }
            returned.withLock { $0.append(entry?.seq ?? 0) }
        }
        queued.wait()
        inCommit.wait()   // A holds the commit
        for kind in [OutboxKind.alert, .aggregate] {
            DispatchQueue.global().async(group: producers) {
                let entry = try? outbox.enqueue(kind: kind, capturedAt: Date(), body: body("late"))
                returned.withLock { $0.append(entry?.seq ?? 0) }
            }
        }
        queued.wait()
        queued.wait()     // B and C wait behind A's commit
        #expect(returned.withLock { $0 }.isEmpty, "a producer returned before its transaction was committed")
        release.signal()
        producers.wait()
        #expect(returned.withLock { $0 }.sorted() == [1, 2, 3])
        #expect(outbox.groupCommits == 2)   // A alone, then B and C together
        outbox.close()
        let reopened = try Outbox(directory: folder.stateDirectory, logger: LogRecorder().logger)
        #expect(reopened.peek(limit: 10).map(\.seq) == [1, 2, 3])
        #expect(reopened.statistics.nextSequence == 4)
    }

    /// Many producers at once: fewer transactions than messages, consecutive numbers with no
    /// gaps or repeats, and each producer's body saw the number it got back.
    @Test func concurrentProducersGetDistinctNumbersInFewerTransactions() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let outbox = try Outbox(directory: folder.stateDirectory, logger: LogRecorder().logger)
        let seqs = Mutex<[UInt64]>([])
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<50 {
                guard let entry = try? outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: body("x")) else { continue }
                if !String(decoding: entry.body, as: UTF8.self).contains("\"seq\":\(entry.seq)") { mismatches.withLock { $0 += 1 } }
                seqs.withLock { $0.append(entry.seq) }
            }
        }
        #expect(seqs.withLock { $0 }.sorted() == Array(1...400))
        #expect(mismatches.withLock { $0 } == 0)
        #expect(outbox.groupCommits <= 400)
        #expect(outbox.peek(limit: 1000).map(\.seq) == Array(1...400))
    }

    /// A message too large for the quota fails alone: the others in its group are committed and
    /// it takes no sequence number.
    @Test func aRefusedMessageFailsAloneAndTakesNoNumber() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        var configuration = OutboxConfiguration()
        configuration.quotaBytes = 64 << 10
        let outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, logger: LogRecorder().logger)
        #expect(throws: OutboxError.self) {
            try outbox.enqueue(kind: .aggregate, capturedAt: Date()) { _ in [UInt8](repeating: 0x41, count: 70 << 10) }
        }
        #expect(try outbox.enqueue(kind: .alert, capturedAt: Date(), body: body("fits")).seq == 1)
    }
}
