// Issue-6 outbox benchmark (scripts/bench-outbox.sh runs it): durable enqueue throughput single and
// batched, bytes on disk per message after a checkpoint, and drain rate (peek + acknowledge), for
// SQLite's synchronous = FULL and NORMAL in WAL mode. Prints a Markdown table.
//
// usage: outbox-bench [--count N] [--single N] [--dir FOLDER]
//        outbox-bench stream FOLDER [PRODUCERS]   enqueue forever from PRODUCERS threads (default 1),
//                                                 printing each committed seq (kill -9 tests)
import Foundation
import Logging
import Outbox

/// A telemetry body of the agent's shape (firmware-interface/telemetry.v1), ~250 bytes.
func telemetryBody(seq: UInt64, at date: Date) -> [UInt8] {
    let stamp = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    let t = 21.0 + Double(seq % 97) / 10
    let text = """
        {"deviceId":"pi-line-07","seq":\(seq),"timestamp":"\(stamp)","periodSeconds":30,\
        "temperature":\(t),"humidity":45.2,"pressure":101325.4,"vibration":{"rms":0.031,"peak":0.122},\
        "sensors":{"bme280":{"chip":"BME280","status":"ok","unavailable":0}}}
        """
    return Array(text.utf8)
}

let properties: OutboxProperties = ["$.ct": "application/json", "$.ce": "utf-8"]

struct Options {
    var count = 20_000
    var single = 2_000
    var dir = NSTemporaryDirectory()
}

func parse(_ arguments: [String]) -> Options? {
    var options = Options()
    var index = 0
    while index < arguments.count {
        let flag = arguments[index]
        guard index + 1 < arguments.count else { return nil }
        let value = arguments[index + 1]
        switch flag {
        case "--count": guard let n = Int(value), n > 0 else { return nil }; options.count = n
        case "--single": guard let n = Int(value), n > 0 else { return nil }; options.single = n
        case "--dir": options.dir = value
        default: return nil
        }
        index += 2
    }
    return options
}

let usage = "usage: outbox-bench [--count N] [--single N] [--dir FOLDER] | outbox-bench stream FOLDER [PRODUCERS]"
let quiet = Logger(label: "outbox-bench") { _ in SwiftLogNoOpLogHandler() }

func freshOutbox(_ base: String, _ name: String, synchronous: OutboxConfiguration.Synchronous) throws -> Outbox {
    let folder = base + "/outbox-bench-\(getpid())-\(name)"
    try? FileManager.default.removeItem(atPath: folder)
    var configuration = OutboxConfiguration()
    configuration.synchronous = synchronous
    configuration.quotaBytes = 1 << 30
    return try Outbox(directory: StateDirectory(folder), configuration: configuration, logger: quiet)
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = start.duration(to: .now).components
    return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
}

func format(_ value: Double) -> String { String(Int(value.rounded())) }

func benchmark(_ options: Options) throws {
    var rows: [String] = []
    for synchronous in OutboxConfiguration.Synchronous.allCases {
        var cells: [String] = ["`\(synchronous.rawValue)`"]
        var perMessage = 0.0
        var drain = 0.0
        for batch in [1, 10, 100] {
            let count = batch == 1 ? options.single : options.count
            let outbox = try freshOutbox(options.dir, "\(synchronous.rawValue)-\(batch)", synchronous: synchronous)
            let now = Date()
            let elapsed = try seconds {
                var seq = 0
                while seq < count {
                    if batch == 1 {
                        try outbox.enqueue(kind: .aggregate, capturedAt: now, properties: properties) { telemetryBody(seq: $0, at: now) }
                    } else {
                        let drafts = (0..<batch).map { _ in
                            OutboxDraft(kind: .aggregate, capturedAt: now, properties: properties) { telemetryBody(seq: $0, at: now) }
                        }
                        _ = try outbox.enqueue(batch: drafts)
                    }
                    seq += batch
                }
            }
            guard outbox.mode.isDurable else { throw OutboxError(.stateDirectoryUnusable, "bench outbox degraded: \(outbox.mode)") }
            cells.append(format(Double(count) / elapsed))
            if batch == 100 {
                outbox.checkpoint()
                let size = try FileManager.default.attributesOfItem(atPath: outbox.path)[.size] as? Int ?? 0
                let stats = outbox.statistics
                perMessage = Double(size) / Double(stats.depth)
                cells.append(String(format: "%.1f (payload %.1f)", perMessage, Double(stats.bytes) / Double(stats.depth)))
                let depth = stats.depth
                drain = Double(depth) / (seconds {
                    while true {
                        let entries = outbox.peek(limit: 100)
                        if entries.isEmpty { break }
                        outbox.acknowledge(seqs: entries.map(\.seq))
                    }
                })
                cells.append(format(drain))
            }
            try? FileManager.default.removeItem(atPath: outbox.directory.path)
        }
        rows.append("| " + cells.joined(separator: " | ") + " |")
    }
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    print("machine: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores; folder \(options.dir)")
    print("body: ~\(telemetryBody(seq: 12345, at: Date()).count)-byte telemetry JSON + properties $.ct, $.ce; "
          + "single: \(options.single) messages, batched: \(options.count)")
    print("")
    print("| synchronous | enqueue/s batch 1 | batch 10 | batch 100 | bytes/message on disk (payload) | drain/s (peek 100 + ack) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows.forEach { print($0) }
}

/// Enqueues until killed from `producers` threads (their enqueues share group commits),
/// printing each sequence number after its commit returned (one write per line).
func stream(_ folder: String, producers: Int) throws -> Never {
    let outbox = try Outbox(directory: StateDirectory(folder), logger: quiet)
    guard outbox.mode.isDurable else {
        FileHandle.standardError.write(Data("outbox-bench: not durable: \(outbox.mode)\n".utf8))
        exit(1)
    }
    @Sendable func produce() {
        while true {
            let now = Date()
            guard let entry = try? outbox.enqueue(kind: .aggregate, capturedAt: now, properties: properties, body: { telemetryBody(seq: $0, at: now) }) else {
                exit(1)
            }
            FileHandle.standardOutput.write(Data("\(entry.seq)\n".utf8))
        }
    }
    for _ in 1..<max(1, producers) { Thread.detachNewThread { produce() } }
    produce()
    exit(0)  // produce() never returns
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    if arguments.first == "stream" {
        guard arguments.count == 2 || arguments.count == 3, let producers = Int(arguments.dropFirst(2).first ?? "1"), producers >= 1 else {
            print(usage); exit(2)
        }
        try stream(arguments[1], producers: producers)
    }
    guard let options = parse(arguments) else { print(usage); exit(2) }
    try benchmark(options)
} catch {
    FileHandle.standardError.write(Data("outbox-bench: \(error)\n".utf8))
    exit(1)
}
