import Foundation
import Identity
import LocalHub
import Logging
import Outbox
import Testing
import TestSupport

let agentBinary = "\(repositoryRoot)/.build/debug/fieldagent"
let chaosBoard = "\(repositoryRoot)/Tests/Agent/ChaosTests/Fixtures/sim-chaos.yaml"

/// Issue 6: never lose a reading. Real `fieldagent run` processes (sim-chaos board, one message
/// per simulated second, as fast as the outbox takes them) against a LocalHub on 127.0.0.1 whose
/// telemetry log is the ground truth: what it has, it acknowledged.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: agentBinary), "build fieldagent first (swift build)"))
struct ChaosTests {
    static let window = 20  // HubClient.Settings.inFlightWindow

    final class Hub: @unchecked Sendable {
        let folder: TemporaryDirectory
        var directory: String { folder.path }
        let pki: DevPKI.Bundle
        var server: LocalHubServer
        var port: UInt16 = 0

        init() async throws {
            folder = try TemporaryDirectory(prefix: "fieldagent-chaos")
            pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: ["chaos-01"], now: Date())
            server = try Self.makeServer(directory: folder.path, pki: pki, port: 0)
            port = try await server.start()
            _ = try server.registerCertificateAuthority(pem: Array(try Data(contentsOf: URL(fileURLWithPath: pki.files.rootCertificate))))
            try server.registerDevice("chaos-01", authentication: .certificateAuthority)
        }

        static func makeServer(directory: String, pki: DevPKI.Bundle, port: Int) throws -> LocalHubServer {
            var configuration = LocalHubServer.Configuration(stateDirectory: directory + "/hub", port: port, logger: Logger(label: "localhub"))
            configuration.serverCertificateFile = pki.files.serverCertificate
            configuration.serverKeyFile = pki.files.serverKey
            configuration.adminSocket = false
            return try LocalHubServer(configuration)
        }

        /// Stops the hub and starts it again on the same port and state after `pause` seconds.
        func restart(after pause: Double) async throws {
            await server.stop()
            try await Task.sleep(for: .milliseconds(Int(pause * 1000)))
            server = try Self.makeServer(directory: directory, pki: pki, port: Int(port))
            _ = try await server.start()
        }

        /// Sequence numbers the hub has, with repetitions.
        func sequences() -> [Int] { records().flatMap { $0 } }

        /// The sequence numbers of each hub message: its `$.mid` = chaos-01-<seq>, or the `seq` of
        /// each message in a backlog batch.
        func records() -> [[Int]] {
            ((try? server.telemetry("chaos-01")) ?? []).map { record -> [Int] in
                if case .string("batch")? = record.properties["messageType"] {
                    let object = try? JSONSerialization.jsonObject(with: Data(record.payload.utf8)) as? [String: Any]
                    return ((object?["messages"] as? [[String: Any]]) ?? []).compactMap { $0["seq"] as? Int }
                }
                guard case .string(let mid)? = record.properties["$.mid"] else { return [] }
                return Int(mid.split(separator: "-").last ?? "").map { [$0] } ?? []
            }
        }

        func cleanUp() async {
            await server.stop()
        }
    }

    func agent(_ hub: Hub, state: String, count: Int?, extra: [String] = [], port: UInt16? = nil) throws -> (Process, String) {
        let files = hub.pki.files.devices["chaos-01"]!
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agentBinary)
        process.arguments = ["run", "--board", chaosBoard, "--time-scale", "0", "--log-level", "info",
                             "--hub", "127.0.0.1:\(port ?? hub.port)", "--expected-host-name", "localhost",
                             "--cert", files.certificate, "--key", files.key, "--ca", hub.pki.files.caChain,
                             "--state-dir", state,
                             // Raw telemetry only: a 5-minute aggregate closes whenever a run crosses a
                             // wall-clock boundary, so counts would depend on the time of day.
                             "--aggregate-window", "0s",
                             // No start-up jitter: each run drains what the killed one left at once.
                             "--drain-jitter", "0s"] + (count.map { ["--count", "\($0)"] } ?? []) + extra
        let log = state + "-agent-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        return (process, log)
    }

    func waitForExit(_ process: Process, timeout: Double) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end, process.isRunning { usleep(20_000) }
        return !process.isRunning
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func killNineTwentyTimesDuringTenThousandMessagesLosesNothing() async throws {
        let hub = try await Hub()
        let state = hub.directory + "/agent"
        let total = 10_000
        var rng = SeededGenerator(seed: 20)
        var duplicatesPerCrash: [Int] = []
        for _ in 0..<20 {
            let before = hub.records()
            let (process, _) = try agent(hub, state: state, count: total)
            usleep(UInt32.random(in: 300_000...1_500_000, using: &rng))
            kill(process.processIdentifier, SIGKILL)
            #expect(waitForExit(process, timeout: 10))
            // What the next run sends again is what this one had in flight.
            let (next, _) = try agent(hub, state: state, count: 1)
            #expect(waitForExit(next, timeout: 60))
            // Counted in hub messages: a backlog batch resent is one message carrying many readings.
            let after = hub.records()
            let newRecords = after.dropFirst(before.count)
            let seen = Set(before.joined())
            duplicatesPerCrash.append(newRecords.filter { !seen.isDisjoint(with: $0) }.count)
        }
        // Then run to the end of the stream.
        let have = Set(hub.sequences())
        let remaining = max(1, total - (have.max() ?? 0))
        let (last, log) = try agent(hub, state: state, count: remaining)
        #expect(waitForExit(last, timeout: 300), "the last run did not finish: \(text(log).suffix(500))")
        let sequences = hub.sequences()
        let unique = Set(sequences)
        let top = unique.max() ?? 0
        #expect(top >= total, "the stream reached seq \(top)")
        let missing = (1...top).filter { !unique.contains($0) }
        #expect(missing.isEmpty, "lost \(missing.count) readings, e.g. \(missing.prefix(10))")
        // Sent twice: at most the in-flight window per crash (each restart resends what the killed
        // process had sent without a PUBACK yet), in hub messages (a batch counts once).
        let duplicates = sequences.count - unique.count
        let duplicateMessages = duplicatesPerCrash.reduce(0, +)
        #expect(duplicateMessages <= 20 * Self.window, "\(duplicateMessages) hub messages sent again over 20 crashes")
        #expect(duplicatesPerCrash.allSatisfy { $0 <= Self.window }, "duplicates right after each crash: \(duplicatesPerCrash)")
        print("chaos kill -9: \(sequences.count) records, \(unique.count) unique, \(duplicates) duplicates over 20 crashes")
        await hub.cleanUp()
    }

    @Test func restartingTheHubThreeTimesMidStreamLosesNothing() async throws {
        let hub = try await Hub()
        let state = hub.directory + "/agent"
        // Long enough that the stream outlasts the first restart (at 2 s) on a fast simulator.
        let (process, log) = try agent(hub, state: state, count: 12_000, extra: ["--drain-rate", "5000", "--flush-timeout", "180s"])
        for _ in 0..<3 {
            try await Task.sleep(for: .seconds(2))
            try await hub.restart(after: 2)
        }
        #expect(waitForExit(process, timeout: 600), "the agent did not finish: \(text(log).suffix(500))")
        #expect(process.terminationStatus == 0, "\(text(log).suffix(800))")
        // 12,000 readings plus the spike alerts, which share the sequence.
        let unique = Set(hub.sequences())
        let top = unique.max() ?? 0
        #expect(top >= 12_000)
        #expect(unique == Set(1...top), "missing \(Set(1...max(top, 1)).subtracting(unique).sorted().prefix(10))")
        #expect(text(log).contains("hub link down"), "the agent saw the hub go away")
        await hub.cleanUp()
    }

    @Test func aFullOutboxDropsOldestAggregatesCountsThemAndKeepsAlerts() async throws {
        let hub = try await Hub()
        let state = hub.directory + "/agent"
        // No hub listening on this port: everything stays in a 64 KB outbox.
        let closed = try MosquittoBroker.freePort()
        let (process, log) = try agent(hub, state: state, count: 600, extra: ["--outbox-quota", "64KB", "--flush-timeout", "1s"], port: closed)
        #expect(waitForExit(process, timeout: 120))
        let output = text(log)
        #expect(process.terminationStatus == 2, "unsent messages are an error at exit: \(output.suffix(300))")
        let alertsRaised = output.components(separatedBy: "spike on").count - 1
        #expect(alertsRaised >= 1, "the planted spike raised an alert")
        #expect(output.contains("dropped"), "drops are logged")
        let outbox = try Outbox(directory: StateDirectory(state), logger: Logger(label: "test"))
        let stats = outbox.statistics
        #expect(stats.drops.quotaAggregates > 0)
        #expect(stats.drops.alerts == 0)
        #expect(stats.bytes <= 64 * 1024)
        let kept = outbox.peek(limit: 10_000)
        #expect(kept.filter { $0.kind == .alert }.count == alertsRaised, "every alert kept")
        // The newest aggregates are the ones kept.
        #expect(kept.filter { $0.kind == .aggregate }.last?.seq == stats.nextSequence - 1)
        outbox.close()
        await hub.cleanUp()
    }

    @Test func aCorruptOutboxIsMovedAsideAndTheAgentRuns() async throws {
        let hub = try await Hub()
        let state = hub.directory + "/agent"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: state + "/outbox.db"))
        let (process, log) = try agent(hub, state: state, count: 20)
        #expect(waitForExit(process, timeout: 120))
        #expect(process.terminationStatus == 0, "\(text(log).suffix(500))")
        let output = text(log)
        #expect(output.contains("outbox.db.corrupt-"), "the log names where the file went: \(output.prefix(800))")
        let aside = try FileManager.default.contentsOfDirectory(atPath: state).filter { $0.hasPrefix("outbox.db.corrupt-") }
        #expect(!aside.isEmpty)
        #expect(Set(hub.sequences()).count == 20, "the agent ran and delivered on a fresh outbox")
        await hub.cleanUp()
    }
}
