import Foundation
import Logging
@testable import Outbox
import TestSupport
import Testing

@Suite struct OutboxTests {
    @Test func sequenceIsHandedToTheBodyPersistsAcrossReopenAndIsNeverReused() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let log = LogRecorder()
        var seen: [UInt64] = []
        do {
            let outbox = try Outbox(directory: folder.stateDirectory, logger: log.logger)
            #expect(outbox.mode == .durable(path: folder.stateDirectory.path + "/outbox.db"))
            for _ in 0..<3 {
                let entry = try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: body("x"))
                #expect(String(decoding: entry.body, as: UTF8.self).contains("\"seq\":\(entry.seq)"))
                seen.append(entry.seq)
            }
            #expect(seen == [1, 2, 3])
            outbox.acknowledge(seqs: seen)   // all deleted: the counter must not fall back to max(seq)
            #expect(outbox.depth == 0)
        }
        let reopened = try Outbox(directory: folder.stateDirectory, logger: log.logger)
        let next = try reopened.enqueue(kind: .alert, capturedAt: Date(), body: body("y"))
        #expect(next.seq == 4)
        let batch = try reopened.enqueue(batch: (0..<3).map { _ in OutboxDraft(kind: .aggregate, capturedAt: Date(), body: body("z")) })
        #expect(batch.map(\.seq) == [5, 6, 7])
        #expect(reopened.statistics.nextSequence == 8)
        #expect(log.messages(at: .error).isEmpty)
    }

    @Test(arguments: OutboxConfiguration.Synchronous.allCases)
    func theFileIsInWALModeWithTheConfiguredSynchronousSetting(_ synchronous: OutboxConfiguration.Synchronous) throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        var configuration = OutboxConfiguration()
        configuration.synchronous = synchronous
        let outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, logger: LogRecorder().logger)
        #expect(outbox.durablePragma("journal_mode") == "wal")
        #expect(outbox.durablePragma("synchronous") == (synchronous == .full ? "2" : "1"))
    }

    @Test func peekIsOldestFirstAndAcknowledgeDeletesDurably() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let clock = ManualDate()
        let properties: OutboxProperties = ["$.ct": "application/json", "$.ce": "utf-8", "site": "line 7"]
        do {
            let outbox = try Outbox(directory: folder.stateDirectory, clock: clock.clock, logger: LogRecorder().logger)
            for index in 0..<5 {
                try outbox.enqueue(kind: index == 2 ? .alert : .aggregate,
                                   capturedAt: clock.now.addingTimeInterval(Double(index)), properties: properties,
                                   body: body("\(index)"))
            }
            #expect(outbox.peek(limit: 3).map(\.seq) == [1, 2, 3])
            outbox.acknowledge(seq: 2)
            outbox.acknowledge(seq: 99)   // unknown: ignored
            #expect(outbox.peek(limit: 3).map(\.seq) == [1, 3, 4])
            #expect(outbox.peek(limit: 10, after: 3).map(\.seq) == [4, 5])
            #expect(outbox.depth == 4)
            #expect(outbox.oldestCapture == clock.now)
        }
        let reopened = try Outbox(directory: folder.stateDirectory, clock: clock.clock, logger: LogRecorder().logger)
        let entries = reopened.peek(limit: 10)
        #expect(entries.map(\.seq) == [1, 3, 4, 5])
        #expect(entries[1].kind == .alert)
        #expect(entries[1].properties == properties)
        #expect(entries[1].capturedAt == clock.now.addingTimeInterval(2))
        #expect(String(decoding: entries[1].body, as: UTF8.self) == "{\"seq\":3,\"v\":\"2\"}")
        #expect(reopened.statistics.bytes == entries.reduce(0) { $0 + $1.size })
    }

    @Test func overQuotaDropsOldestAggregatesFirstKeepsAlertsAndCountsEveryDrop() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let log = LogRecorder()
        var configuration = OutboxConfiguration()
        configuration.quotaBytes = 5000
        do {
            let outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, logger: log.logger)
            try outbox.enqueue(kind: .alert, capturedAt: Date(), body: bytes(1000))          // seq 1
            for _ in 0..<6 { try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: bytes(1000)) }  // 2…7
            // 7000 bytes offered, 5000 kept: aggregates 2 and 3 went, the older alert stayed.
            #expect(outbox.peek(limit: 10).map(\.seq) == [1, 4, 5, 6, 7])
            let stats = outbox.statistics
            #expect(stats.bytes == 5000)
            #expect(stats.drops.quotaAggregates == 2)
            #expect(stats.drops.quotaAlerts == 0)
        }
        #expect(log.messages(at: .warning).count == 2)
        #expect(log.messages(at: .warning).allSatisfy { $0.contains("dropped 1 oldest aggregate(s)") })
        // Counters are persisted with the queue.
        let reopened = try Outbox(directory: folder.stateDirectory, configuration: configuration, logger: log.logger)
        #expect(reopened.statistics.drops.quotaAggregates == 2)
    }

    @Test func alertsAreDroppedOnlyWhenNoAggregateIsLeft() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        var configuration = OutboxConfiguration()
        configuration.quotaBytes = 4096
        let outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, logger: LogRecorder().logger)
        try outbox.enqueue(kind: .alert, capturedAt: Date(), body: bytes(1500))       // 1
        try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: bytes(1500))   // 2
        try outbox.enqueue(kind: .alert, capturedAt: Date(), body: bytes(1000))       // 3
        // 4000 kept; a 1500-byte alert needs 1404 bytes: the only aggregate goes, nothing else.
        try outbox.enqueue(kind: .alert, capturedAt: Date(), body: bytes(1500))       // 4
        #expect(outbox.peek(limit: 10).map(\.seq) == [1, 3, 4])
        // Another alert: no aggregate left, so the oldest alert goes.
        try outbox.enqueue(kind: .alert, capturedAt: Date(), body: bytes(1500))       // 5
        #expect(outbox.peek(limit: 10).map(\.seq) == [3, 4, 5])
        let drops = outbox.statistics.drops
        #expect(drops.quotaAggregates == 1 && drops.quotaAlerts == 1)
        #expect(throws: OutboxError.self) {
            try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: bytes(5000))
        }
    }

    /// The wall clock was set while messages were queued: those from a given number on move by
    /// the step (durably), earlier ones keep their capture time.
    @Test func captureTimesShiftFromASequenceNumberAndStaySoAfterAReopen() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let clock = ManualDate()
        var configuration = OutboxConfiguration()
        configuration.maximumAge = .seconds(7 * 86400)
        var outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, clock: clock.clock,
                                logger: LogRecorder().logger)
        for i in 0..<4 {
            try outbox.enqueue(kind: .aggregate, capturedAt: clock.now.addingTimeInterval(Double(i)), body: body("m\(i)"))
        }
        let before = outbox.peek(limit: 10)
        #expect(outbox.shiftCaptureTimes(by: .seconds(10 * 86400), fromSequence: before[2].seq) == 2)
        #expect(outbox.shiftCaptureTimes(by: .zero, fromSequence: 0) == 0)
        outbox.close()
        outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, clock: clock.clock,
                            logger: LogRecorder().logger)
        defer { outbox.close() }
        let after = outbox.peek(limit: 10)
        #expect(after.map(\.seq) == before.map(\.seq))
        #expect(zip(before, after).map { $1.capturedAt.timeIntervalSince($0.capturedAt) } == [0, 0, 864_000, 864_000])
        #expect(after.map(\.body) == before.map(\.body))
        // Backward by the same: back where they were; the memory store does the same.
        #expect(outbox.shiftCaptureTimes(by: .seconds(-10 * 86400), fromSequence: before[2].seq) == 2)
        #expect(outbox.peek(limit: 10).map(\.capturedAt) == before.map(\.capturedAt))
    }

    @Test func messagesOlderThanTheMaximumAgeAreDroppedAndCounted() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let clock = ManualDate()
        let log = LogRecorder()
        var configuration = OutboxConfiguration()
        configuration.maximumAge = .seconds(3600)
        let outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, clock: clock.clock,
                                logger: log.logger)
        try outbox.enqueue(kind: .aggregate, capturedAt: clock.now, body: body("old"))                     // 1
        try outbox.enqueue(kind: .alert, capturedAt: clock.now.addingTimeInterval(60), body: body("old"))   // 2
        try outbox.enqueue(kind: .aggregate, capturedAt: clock.now.addingTimeInterval(1800), body: body("new"))  // 3
        clock.advance(3600 + 120)
        #expect(outbox.statistics.oldestAge == .seconds(3720))
        #expect(outbox.dropExpired() == 2)
        #expect(outbox.peek(limit: 10).map(\.seq) == [3])
        let drops = outbox.statistics.drops
        #expect(drops.expiredAggregates == 1 && drops.expiredAlerts == 1)
        #expect(log.messages(at: .warning).contains { $0.contains("older than") && $0.contains("seq 1…2") })
        // Expiry also runs by itself on the next enqueue once the clock has moved.
        clock.advance(1800)
        try outbox.enqueue(kind: .aggregate, capturedAt: clock.now, body: body("live"))
        #expect(outbox.peek(limit: 10).map(\.seq) == [4])
    }

    @Test func aGarbageFileIsMovedAsideAndAFreshDatabaseOpened() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let state = folder.stateDirectory
        try state.prepare()
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: state.file("outbox.db")))
        try Data("junk".utf8).write(to: URL(fileURLWithPath: state.file("outbox.db-wal")))
        let log = LogRecorder()
        let clock = ManualDate()
        let outbox = try Outbox(directory: state, clock: clock.clock, logger: log.logger)
        #expect(outbox.mode.isDurable)
        let aside = files(in: state.path).filter { $0.hasPrefix("outbox.db.corrupt-") }
        #expect(aside.contains("outbox.db.corrupt-20260921T141320Z"))
        let errors = log.messages(at: .error)
        #expect(errors.count == 1)
        #expect(errors.first?.contains(state.file("outbox.db.corrupt-20260921T141320Z")) == true)
        #expect(errors.first?.contains("not a database") == true)
        // The lost counter restarts above anything it can have issued.
        let entry = try outbox.enqueue(kind: .aggregate, capturedAt: clock.now, body: body("after"))
        #expect(entry.seq == Outbox.sequenceFloor(clock.now))
    }

    @Test func aTruncatedDatabaseIsMovedAside() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        let state = folder.stateDirectory
        do {
            let outbox = try Outbox(directory: state, logger: LogRecorder().logger)
            _ = try outbox.enqueue(batch: (0..<2000).map { _ in OutboxDraft(kind: .aggregate, capturedAt: Date(), body: bytes(250)) })
            #expect(outbox.checkpoint())
        }
        let path = state.file("outbox.db")
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()

        let log = LogRecorder()
        let outbox = try Outbox(directory: state, logger: log.logger)
        #expect(outbox.mode.isDurable)
        #expect(outbox.depth == 0)
        #expect(files(in: state.path).contains { $0.hasPrefix("outbox.db.corrupt-") })
        #expect(log.messages(at: .error).count == 1)
        #expect(log.messages(at: .error).first?.contains("moved it aside") == true)
    }

    @Test func aFullDatabaseDegradesToMemoryKeepsAcceptingAndComesBack() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        // SQLite's max_page_count gives SQLITE_FULL exactly as a full disk does (ENOSPC -> SQLITE_FULL).
        var configuration = OutboxConfiguration()
        configuration.maximumFileBytes = 64 * 1024
        let log = LogRecorder()
        let clock = ManualDate()
        let outbox = try Outbox(directory: folder.stateDirectory, configuration: configuration, clock: clock.clock,
                                logger: log.logger)
        var seqs: [UInt64] = []
        for _ in 0..<600 {
            seqs.append(try outbox.enqueue(kind: .aggregate, capturedAt: clock.now, body: bytes(250)).seq)
        }
        guard case let .memory(reason) = outbox.mode else {
            Issue.record("expected memory mode, got \(outbox.mode)")
            return
        }
        #expect(reason.contains("full"))
        #expect(log.messages(at: .error).contains { $0.contains("degraded to MEMORY") })
        // Nothing accepted was lost, numbering stayed increasing and unique.
        #expect(outbox.depth == 600)
        #expect(outbox.peek(limit: 1000).map(\.seq) == seqs)
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        // Still full: the retry fails and says so.
        #expect(outbox.retryDurable() == false)
        // Delivered meanwhile: the queue fits again and goes back into the file.
        outbox.acknowledge(seqs: seqs.dropLast(10))
        #expect(outbox.retryDurable(), "\(log.messages)")
        #expect(outbox.mode.isDurable)
        let next = try outbox.enqueue(kind: .alert, capturedAt: clock.now, body: body("back"))
        #expect(next.seq > seqs.last ?? 0)
        let reopened = try Outbox(directory: folder.stateDirectory, configuration: configuration, clock: clock.clock,
                                  logger: log.logger)
        #expect(reopened.peek(limit: 100).map(\.seq) == Array(seqs.suffix(10)) + [next.seq])
    }

    @Test func anUnusableStateDirectoryDegradesToMemoryWithTheReason() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        try Data("a file".utf8).write(to: URL(fileURLWithPath: folder.path + "/blocker"))
        let state = try StateDirectory(folder.path + "/blocker/state")
        let log = LogRecorder()
        let outbox = try Outbox(directory: state, logger: log.logger)
        guard case let .memory(reason) = outbox.mode else {
            Issue.record("expected memory mode, got \(outbox.mode)")
            return
        }
        #expect(reason.contains("Not a directory"))
        #expect(reason.contains("choose another state directory"))
        let entry = try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: body("ram"))
        #expect(outbox.peek(limit: 5) == [entry])
        #expect(log.messages(at: .error).first?.contains("degraded to MEMORY") == true)
    }

    @Test func invalidConfigurationListsEveryProblem() {
        var configuration = OutboxConfiguration()
        configuration.quotaBytes = 10
        configuration.maximumAge = .zero
        #expect(configuration.validate().count == 2)
        #expect(throws: OutboxError.self) {
            _ = try Outbox(directory: try StateDirectory("/tmp/x"), configuration: configuration,
                           logger: LogRecorder().logger)
        }
    }
}
