import Foundation
import Testing
import TestSupport

let soakBoard = "\(repositoryRoot)/Tests/Agent/ChaosTests/Fixtures/sim-soak.yaml"

/// Issue 19, item 5: "a week in an hour". The real `fieldagent run` on the soak board (the factory
/// line with sensors unplugged and replugged, and its wall clock set back and forward, every
/// simulated day) against an in-process LocalHub that is restarted twice a simulated day and
/// stopped once for six simulated hours. The hub's telemetry log is the ground truth; the agent's
/// RSS, descriptors and threads are sampled from /proc all along.
///
/// CI form (`SOAK_DAYS` unset): one simulated day at 480x (3 min at full pace, 7-8 min on a
/// loaded machine; the plan follows the agent's board time). Full form: `SOAK_DAYS=7`
/// (168x by default: one hour). `SOAK_SCALE` overrides the time scale. docs/soak.md.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: agentBinary), "build fieldagent first (swift build)"))
struct SoakTests {
    static let environment = ProcessInfo.processInfo.environment
    static let days = Int(environment["SOAK_DAYS"] ?? "") ?? 1
    static let scale = Double(environment["SOAK_SCALE"] ?? "") ?? (environment["SOAK_DAYS"] == nil ? 480 : 168)
    /// The factory board sends every 30 s of board time.
    static let sendPeriod = 30.0
    /// Sequence numbers per board hour: 120 readings and a heartbeat every 15 minutes.
    static let sequencePerHour = 124.0
    /// The planted steps of sim-soak.yaml, every day: (board time in hours, step in seconds).
    static let clockSteps: [(hours: Double, seconds: Double)] = [(5, -120), (15, 3600)]
    /// The hub's one long outage, on the first day (board hours).
    static let outage = (start: 1.0, hours: 6.0)

    /// One /proc sample of the agent.
    struct Sample {
        var simulatedHours: Double
        var rssKB: Int
        var descriptors: Int
        var threads: Int
        /// The outbox's depth then (status.json), nil when unread.
        var backlog: Int? = nil
    }

    static func sample(_ pid: Int32, at hours: Double) -> Sample? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let rss = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? ""),
              let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"),
              let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        else { return nil }
        return Sample(simulatedHours: hours, rssKB: rss, descriptors: fds.count, threads: tasks.count)
    }

    /// One telemetry reading (a raw period message) the hub has: its sequence number and capture time.
    struct Reading {
        var seq: Int
        var timestamp: Date
    }

    /// The readings in the hub's log, in arrival order, and how many hub messages carried them;
    /// also whether every batch listed its messages in ascending sequence.
    static func readings(_ hub: ChaosTests.Hub) -> (readings: [Reading], messages: Int, batchesInOrder: Bool) {
        let records = (try? hub.server.telemetry("chaos-01")) ?? []
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var readings: [Reading] = []
        var inOrder = true
        func reading(_ object: [String: Any]) -> Reading? {
            guard object["periodSeconds"] != nil, let seq = object["seq"] as? Int,
                  let text = object["timestamp"] as? String, let date = iso.date(from: text) else { return nil }
            return Reading(seq: seq, timestamp: date)
        }
        for record in records {
            guard let object = try? JSONSerialization.jsonObject(with: Data(record.payload.utf8)) as? [String: Any] else { continue }
            if case .string("batch")? = record.properties["messageType"] {
                let items = (object["messages"] as? [[String: Any]]) ?? []
                let seqs = items.compactMap { $0["seq"] as? Int }
                if seqs != seqs.sorted() { inOrder = false }
                readings += items.compactMap(reading)
            } else if let one = reading(object) {
                readings.append(one)
            }
        }
        return (readings, records.count, inOrder)
    }

    @Test func aSimulatedWeekWithUnplugsHubRestartsAnOutageAndClockStepsLosesNothingAndLeaksNothing() async throws {
        let days = Self.days, scale = Self.scale
        let hub = try await ChaosTests.Hub()
        let state = hub.directory + "/agent"
        let files = try #require(hub.pki.files.devices["chaos-01"])
        let total = days * Int(86400 / Self.sendPeriod)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agentBinary)
        process.arguments = ["run", "--board", soakBoard, "--time-scale", "\(scale)", "--log-level", "info",
                             "--hub", "127.0.0.1:\(hub.port)", "--expected-host-name", "localhost",
                             "--cert", files.certificate, "--key", files.key, "--ca", hub.pki.files.caChain,
                             "--state-dir", state, "--count", "\(total)", "--flush-timeout", "600s",
                             // Raw period messages only: each is one reading the hub can check by seq and time.
                             "--aggregate-window", "0s", "--drain-jitter", "0s"]
        let log = hub.directory + "/soak-agent.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: log)
        let started = Date()
        try process.run()
        let pid = process.processIdentifier
        // Board time, as far as the agent got: its outbox's next sequence number in status.json
        // (124 per board hour: 120 readings and 4 heartbeats). Wall time times the scale would
        // run ahead of an agent that cannot keep the pace on a loaded machine.
        var boardHours = 0.0
        var backlog: Int?
        func simulatedHours() -> Double {
            if let data = try? Data(contentsOf: URL(fileURLWithPath: state + "/status.json")),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let outbox = object["outbox"] as? [String: Any], let next = outbox["nextSequence"] as? Int {
                boardHours = max(boardHours, Double(next - 1) / Self.sequencePerHour)
                backlog = outbox["depth"] as? Int
            }
            return boardHours
        }

        // The hub's plan in board hours: restarts (down a board minute, or the next status
        // update) at 10 h and 18 h each day, and one 6-hour outage from 1 h to 7 h on the first
        // day. The outage comes early: the agent's reconnect backoff is wall-clock (full jitter,
        // capped at 60 s), which at 480x is up to 8 board hours after the hub is back, and the
        // rest of the day must still hold enough samples after the drain to judge RSS.
        var plan: [(hours: Double, outage: Double)] = []
        for day in 0..<days {
            let base = Double(day * 24)
            plan += [(base + 10, 1.0 / 60), (base + 18, 1.0 / 60)]
            if day == 0 { plan.append((base + Self.outage.start, Self.outage.hours)) }
        }
        plan.sort { $0.hours < $1.hours }

        var samples: [Sample] = []
        var restarts = 0
        var hubBackAt: Double?
        let sampleEvery = max(0.5, 900 / scale)  // every board quarter hour at full pace
        var nextSample = 0.0
        while process.isRunning {
            let elapsed = Date().timeIntervalSince(started)
            if elapsed >= nextSample {
                if var sample = Self.sample(pid, at: simulatedHours()) {
                    sample.backlog = backlog
                    samples.append(sample)
                }
                nextSample += sampleEvery
            }
            if let back = hubBackAt, simulatedHours() >= back {
                hub.server = try ChaosTests.Hub.makeServer(directory: hub.directory, pki: hub.pki, port: Int(hub.port))
                _ = try await hub.server.start()
                hubBackAt = nil
                restarts += 1
            }
            if hubBackAt == nil, let event = plan.first, simulatedHours() >= event.hours {
                // Down for the event's board time; sampling goes on meanwhile.
                plan.removeFirst()
                await hub.server.stop()
                hubBackAt = event.hours + event.outage
                continue
            }
            if elapsed > Double(days) * 86400 / scale * 4 + 900 {
                Issue.record("the agent did not finish \(total) messages: \(String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: log))) ?? Data(), as: UTF8.self).suffix(800))")
                process.terminate()
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.waitUntilExit()
        let wall = Date().timeIntervalSince(started)
        let output = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: log))) ?? Data(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output.suffix(800))")
        #expect(restarts == days * 2 + 1, "every planned restart and the outage happened")

        // Zero lost: every sequence number from 1 to the last (readings, heartbeats and alerts
        // share it) is at the hub.
        let all = Set(hub.sequences())
        let top = all.max() ?? 0
        let missing = top > 0 ? (1...top).filter { !all.contains($0) } : []
        #expect(top >= total, "the stream reached seq \(top) of at least \(total)")
        #expect(missing.isEmpty, "lost \(missing.count) messages, e.g. \(missing.prefix(10))")

        // Zero reordered: batches list their messages in order, and taken in sequence order the
        // readings' capture times advance one send period each, except across a planted clock
        // step, where they advance by the period plus the step.
        let (arrived, messages, batchesInOrder) = Self.readings(hub)
        #expect(batchesInOrder, "a backlog batch listed its messages out of sequence")
        var firstOf: [Int: Reading] = [:]
        for reading in arrived where firstOf[reading.seq] == nil { firstOf[reading.seq] = reading }
        let bySeq = firstOf.values.sorted { $0.seq < $1.seq }
        #expect(bySeq.count == total, "\(bySeq.count) readings at the hub, \(total) sent")
        let stepSizes = Self.clockSteps.map(\.seconds)
        var stepsSeen = 0
        var disordered: [String] = []
        for (a, b) in zip(bySeq, bySeq.dropFirst()) {
            let delta = b.timestamp.timeIntervalSince(a.timestamp)
            if abs(delta - Self.sendPeriod) <= 3 { continue }
            if stepSizes.contains(where: { abs(delta - Self.sendPeriod - $0) <= 3 }) {
                stepsSeen += 1
                continue
            }
            disordered.append("seq \(a.seq)→\(b.seq): \(delta) s")
        }
        #expect(disordered.isEmpty, "readings out of capture order: \(disordered.prefix(10))")
        let plannedSteps = (0..<days).flatMap { day in Self.clockSteps.map { Double(day * 24) + $0.hours } }.filter { $0 < Double(days * 24) }.count
        #expect(stepsSeen == plannedSteps, "the hub's capture times show \(stepsSeen) clock steps, \(plannedSteps) planted")
        let duplicates = arrived.count - firstOf.count
        // Arrival order: after the outage the live stream goes first and the backlog follows in
        // order (by design); counted, not asserted.
        var highest = 0, lateArrivals = 0
        for reading in arrived {
            if reading.seq < highest { lateArrivals += 1 }
            highest = max(highest, reading.seq)
        }

        // Resources after warm-up: RSS grows at most 1 MB, descriptors and threads do not grow.
        // Warm-up ends a board hour after the 6-hour outage's backlog has drained (the outbox
        // empty again after the outage): by then the agent has held and sent its largest
        // backlog (SQLite's page cache and the allocator's arenas at their working size).
        let outageEnd = Self.outage.start + Self.outage.hours
        let drained = samples.first { $0.simulatedHours >= outageEnd && $0.backlog == 0 }?.simulatedHours
        #expect(drained != nil, "the outage's backlog drained")
        let warmUp = (drained ?? outageEnd + 1) + 1
        let steady = samples.filter { $0.simulatedHours >= warmUp }
        #expect(steady.count >= 10, "\(steady.count) samples after warm-up")
        let first = try #require(steady.first), last = try #require(steady.last)
        let rssMax = steady.map(\.rssKB).max() ?? 0
        // Growth is measured from the lowest sample after warm-up (a drop, when a hub restart
        // frees the connection's buffers, must not hide a creep after it) to the end: the median
        // of the last five samples (one sample is noise from a burst).
        let rssMin = steady.map(\.rssKB).min() ?? 0
        let tail = steady.suffix(5).map(\.rssKB).sorted()
        let rssEnd = tail[tail.count / 2]
        #expect(rssEnd - rssMin <= 1024, "RSS grew \(rssEnd - rssMin) KB after warm-up (lowest \(rssMin) KB → \(rssEnd) KB)")
        // The trend over the second half after warm-up (least squares, KB per board hour): printed, so a creep too
        // slow to fail a one-day run shows before the week-long form fails on it.
        let trend = steady.suffix(steady.count / 2)
        let xs = trend.map(\.simulatedHours), ys = trend.map { Double($0.rssKB) }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        let sxx = zip(xs, xs).map { ($0 - mx) * ($1 - mx) }.reduce(0, +)
        let slope = sxx > 0 ? zip(xs, ys).map { ($0 - mx) * ($1 - my) }.reduce(0, +) / sxx : 0
        let warmDescriptors = samples.filter { $0.simulatedHours < warmUp }.map(\.descriptors).max() ?? first.descriptors
        let warmThreads = samples.filter { $0.simulatedHours < warmUp }.map(\.threads).max() ?? first.threads
        #expect(last.descriptors <= max(warmDescriptors, first.descriptors), "descriptors \(first.descriptors) → \(last.descriptors)")
        #expect(last.threads <= max(warmThreads, first.threads), "threads \(first.threads) → \(last.threads)")
        #expect(steady.map(\.descriptors).max() ?? 0 <= max(warmDescriptors, first.descriptors) + 2, "descriptors peaked at \(steady.map(\.descriptors).max() ?? 0)")
        #expect(output.contains("the wall clock was set back"), "the agent logged the step back")
        #expect(output.contains("hub link down"), "the agent saw the hub go away")
        // The alarm line is logged when its reasons change (a failed sensor, the link down longer
        // than its limit, a spike), not at every sample while they hold: a few dozen lines a day.
        let alarmLines = output.split(separator: "\n").filter { $0.contains("alarm line") }.count
        #expect(alarmLines <= 50 * days, "\(alarmLines) alarm-line log lines in \(days) simulated day(s)")

        let table = """
            | soak | value |
            | --- | --- |
            | simulated days | \(days) at \(Int(scale))x (\(Int(wall)) s wall-clock) |
            | hub messages | \(messages) (\(duplicates) readings sent twice, \(lateArrivals) arrived after a later one: backlog behind live) |
            | readings | \(bySeq.count) of \(total), \(missing.count) lost, \(disordered.count) out of order, \(stepsSeen) clock steps seen |
            | hub restarts | \(restarts) (one a 6 h outage) |
            | RSS after warm-up (board hour \(String(format: "%.1f", warmUp)) on) | start \(first.rssKB) KB, end \(rssEnd) KB, min \(rssMin) KB, max \(rssMax) KB (growth \(rssEnd - rssMin) KB, trend \(Int(slope.rounded())) KB per board hour over the second half) |
            | descriptors | \(first.descriptors) → \(last.descriptors) (max \(steady.map(\.descriptors).max() ?? 0)) |
            | threads | \(first.threads) → \(last.threads) (max \(steady.map(\.threads).max() ?? 0)) |
            | samples | \(samples.count), every \(String(format: "%.2f", sampleEvery)) s wall-clock |
            """
        print(table)
        // RSS by board hour (the last sample of each), for docs/soak.md.
        var hourly: [Int: Int] = [:]
        for sample in samples { hourly[Int(sample.simulatedHours)] = sample.rssKB }
        print("soak RSS KB by board hour: " + hourly.keys.sorted().map { "\($0)h \(hourly[$0]!)" }.joined(separator: ", "))
        print("soak samples (board hour, outbox depth, RSS KB): " + samples.map { s in
            "\(String(format: "%.2f", s.simulatedHours)):\(s.backlog.map(String.init) ?? "-"):\(s.rssKB)" }.joined(separator: " "))
        await hub.cleanUp()
    }
}
