import TestSupport
import Foundation
@testable import Outbox
import Testing


private func run(_ executable: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Whether this process may mount a tmpfs (root in a sandbox that allows it, as on CI here).
private let canMountTmpfs: Bool = {
    guard geteuid() == 0, let folder = try? TemporaryDirectory(prefix: "outbox-test") else { return false }
    guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", folder.path]) == 0 else { return false }
    _ = run("/bin/umount", [folder.path])
    return true
}()

@Suite(.serialized) struct OutboxCrashTests {
    @Test(.enabled(if: canMountTmpfs, "needs root and mount(8) for a small tmpfs"))
    func aRealFullDiskDegradesToMemoryWithoutLosingAMessage() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        #expect(run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", folder.path]) == 0)
        defer { _ = run("/bin/umount", [folder.path]) }
        let log = LogRecorder()
        let outbox = try Outbox(directory: folder.stateDirectory, logger: log.logger)
        #expect(outbox.mode.isDurable)
        var seqs: [UInt64] = []
        for _ in 0..<2000 {
            seqs.append(try outbox.enqueue(kind: .aggregate, capturedAt: Date(), body: bytes(250)).seq)
        }
        guard case let .memory(reason) = outbox.mode else {
            Issue.record("expected the 256 KiB tmpfs to fill up, mode is \(outbox.mode)")
            return
        }
        #expect(reason.contains("full"))
        #expect(outbox.peek(limit: 5000).map(\.seq) == seqs)
        #expect(log.messages(at: .error).contains { $0.contains("degraded to MEMORY") })
    }

    /// kill -9 in the middle of a stream of commits: every sequence number the writer printed
    /// (it prints after `enqueue` returned) is in the file, and the numbers are contiguous.
    @Test func killDashNineLosesNothingCommitted() async throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        var lastPrinted: UInt64 = 0
        for round in 0..<3 {
            let printed = try streamUntilKilled(folder, producers: 1, atLeast: lastPrinted + 300 + UInt64(round * 97))
            lastPrinted = printed.last ?? lastPrinted
        }
        let outbox = try Outbox(directory: folder.stateDirectory, logger: LogRecorder().logger)
        let seqs = outbox.peek(limit: 1_000_000).map(\.seq)
        #expect(lastPrinted >= 900)
        #expect(seqs.first == 1)
        #expect(seqs == Array(1...UInt64(seqs.count)))        // contiguous: nothing lost in between
        #expect(UInt64(seqs.count) >= lastPrinted)            // every acknowledged commit survived
        #expect(outbox.statistics.nextSequence == UInt64(seqs.count) + 1)
    }

    /// Group commit under kill -9: four producers share transactions; every number any of them
    /// was given back (printed after its `enqueue` returned) is in the file, and the file holds
    /// whole groups only (contiguous numbers).
    @Test func killDashNineWithConcurrentProducersLosesNothingAcknowledged() throws {
        let folder = try TemporaryDirectory(prefix: "outbox-test")
        var acknowledged = Set<UInt64>()
        for round in 0..<2 {
            acknowledged.formUnion(try streamUntilKilled(folder, producers: 4, atLeast: UInt64(400 * (round + 1))))
        }
        let outbox = try Outbox(directory: folder.stateDirectory, logger: LogRecorder().logger)
        let seqs = outbox.peek(limit: 1_000_000).map(\.seq)
        #expect((acknowledged.max() ?? 0) >= 800)
        #expect(seqs == Array(1...UInt64(seqs.count)))
        #expect(acknowledged.subtracting(seqs).isEmpty, "acknowledged but lost: \(acknowledged.subtracting(seqs).sorted().prefix(10))")
    }

    /// Runs `outbox-bench stream` until its highest printed number reaches `atLeast`, kills it
    /// with SIGKILL and returns every number printed on a whole line.
    private func streamUntilKilled(_ folder: TemporaryDirectory, producers: Int, atLeast target: UInt64) throws -> [UInt64] {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("outbox-bench").path,
            "\(repositoryRoot)/.build/debug/outbox-bench",
        ]
        let executable = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) },
                                      "build outbox-bench first")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["stream", folder.stateDirectory.path, "\(producers)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        // Read until enough is committed, then kill -9.
        var buffer = Data()
        while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
            if let highest = lines.dropLast().compactMap({ UInt64($0) }).max(), highest >= target { break }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        // Only whole lines count: the last one may have been cut by the kill.
        let text = String(decoding: buffer, as: UTF8.self)
        let complete = text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
        return complete.split(separator: "\n").compactMap { UInt64($0) }
    }
}
