import Foundation
import Logging
@testable import Outbox
import SQLite
import TestSupport
import Testing

/// The holes an audit found: a durability setting that silently failed to come back, and rows a
/// damaged file holds with values no enqueue writes.
@Suite struct OutboxDurabilityTests {
    struct InjectedFailure: Error, CustomStringConvertible {
        var description: String { "injected failure" }
    }

    @Test func aFailedRestoreOfSynchronousFullIsLoudAndRetriedUntilItHolds() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let log = LogRecorder()
        let outbox = try Outbox(directory: folder.stateDirectory, logger: log.logger)
        for _ in 0..<4 { try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: body("x")) }
        #expect(outbox.durablePragma("synchronous") == "2")
        outbox.withDurableStore { $0.setSynchronous = { _, _ in throw InjectedFailure() } }

        outbox.acknowledge(seqs: [1])
        #expect(outbox.durablePragma("synchronous") == "1", "the fault left the file at NORMAL")
        let problem = try #require(outbox.statistics.durabilityProblem)
        #expect(problem.contains("synchronous = FULL could not be restored") && problem.contains("injected failure"))
        #expect(outbox.mode.isDurable)
        outbox.acknowledge(seqs: [2])
        let errors = log.messages(at: .error).filter { $0.contains("could not be restored") }
        #expect(errors.count == 1, "logged once when it happens, not at every delete")

        // The next commit tries again; once the pragma can be set, FULL is back and so is the report.
        outbox.withDurableStore { $0.setSynchronous = { database, value in try database.execute("PRAGMA synchronous = \(value)") } }
        try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: body("after"))
        #expect(outbox.durablePragma("synchronous") == "2")
        #expect(outbox.statistics.durabilityProblem == nil)
        #expect(log.messages(at: .notice).contains { $0.contains("synchronous = FULL is back in force") })
    }

    /// NULL, text and fractions where the schema wants integers (a damaged or hand-edited file):
    /// the outbox opens durable, drops exactly those rows as unreadable and keeps the rest.
    @Test func undecodableRowsTakeTheDamagedRowsPathInsteadOfStoppingTheOutbox() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let state = folder.stateDirectory
        let path = state.file("outbox.db")
        do {
            let outbox = try Outbox(directory: state, logger: LogRecorder().logger)
            for index in 1...6 { try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: body("\(index)")) }
        }
        do {
            let database = try SQLiteDatabase(path: path)
            defer { database.close() }
            try database.execute("""
                PRAGMA ignore_check_constraints = ON;
                UPDATE messages SET size = 'abc' WHERE seq = 2;
                UPDATE messages SET size = 12.5 WHERE seq = 4;
                UPDATE messages SET captured_at = 'yesterday', kind = 'x' WHERE seq = 5;
                """)
        }
        let log = LogRecorder()
        let outbox = try Outbox(directory: state, logger: log.logger)
        #expect(outbox.mode.isDurable, "\(outbox.mode)")
        #expect(outbox.peek(limit: 10).map(\.seq) == [1, 3, 6])
        let statistics = outbox.statistics
        #expect(statistics.depth == 3)
        #expect(statistics.drops.unreadable == 3)
        #expect(log.messages(at: .warning).contains { $0.contains("dropped 3 damaged message(s)") })
        #expect(log.messages(at: .error).isEmpty)
        // The count persists, and the file reads clean for `doctor`.
        let inspected = try Outbox.inspect(path: path).get()
        #expect(inspected.drops.unreadable == 3)
        #expect(inspected.depth == 3)
        #expect(inspected.bytes == statistics.bytes)
    }
}
