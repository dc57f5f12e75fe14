// hub-bench: the issue-3 publish benchmark's device side. Publishes N QoS 1 telemetry messages
// through HubClient (one send per message, each with its own $.mid), waits until the broker has
// acknowledged all of them, and prints one JSON line. scripts/bench-publish.sh runs it next to
// mosquitto_pub on the same broker. Hand-parsed flags keep the binary (and its RSS) small.
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
import HubClient
import Identity
import IoTHub
import Logging

/// What went wrong on the command line or during the run; printed and exit status 2.
struct BenchError: Error, CustomStringConvertible {
    var description: String
}

struct Options {
    var host = "127.0.0.1"
    var port: UInt16 = 8883
    var certificate = ""
    var key = ""
    var ca = ""
    var deviceID = "bench-1"
    var count = 20_000
    var size = 150
    var window = 20
    /// Sends pause while this many messages are unacknowledged, as a sensor loop producing at
    /// its own pace would never pile up the whole run in memory (mosquitto_pub -l likewise
    /// reads stdin as it goes).
    var backlog = 2000
    var timeoutSeconds = 120
    var makePKI: String?
    var devices = ["bench-1"]

    static let usage = """
    usage: hub-bench --host H --port P --cert PEM --key KEY --ca CHAIN --device-id ID
                     [--count N] [--size BYTES] [--window W] [--backlog N] [--timeout SECONDS]
           hub-bench --make-pki DIR [--devices a,b]   (dev PKI for the benchmark broker)
    """

    init(_ arguments: [String]) throws(BenchError) {
        var i = 0
        func value(_ flag: String) throws(BenchError) -> String {
            i += 1
            guard i < arguments.count else { throw BenchError(description: "\(flag) needs a value\n\(Self.usage)") }
            return arguments[i]
        }
        func integer(_ flag: String, _ range: ClosedRange<Int>) throws(BenchError) -> Int {
            let text = try value(flag)
            guard let n = Int(text), range.contains(n) else {
                throw BenchError(description: "\(flag) expects an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            return n
        }
        while i < arguments.count {
            let flag = arguments[i]
            switch flag {
            case "--host": host = try value(flag)
            case "--port": port = UInt16(try integer(flag, 1...65535))
            case "--cert": certificate = try value(flag)
            case "--key": key = try value(flag)
            case "--ca": ca = try value(flag)
            case "--device-id": deviceID = try value(flag)
            case "--count": count = try integer(flag, 1...10_000_000)
            case "--size": size = try integer(flag, 1...262_144)
            case "--window": window = try integer(flag, 1...65_535)
            case "--backlog": backlog = try integer(flag, 1...10_000_000)
            case "--timeout": timeoutSeconds = try integer(flag, 1...86_400)
            case "--make-pki": makePKI = try value(flag)
            case "--devices": devices = try value(flag).split(separator: ",").map(String.init)
            case "-h", "--help": throw BenchError(description: Self.usage)
            default: throw BenchError(description: "unknown argument '\(flag)'\n\(Self.usage)")
            }
            i += 1
        }
        if makePKI == nil, certificate.isEmpty || key.isEmpty || ca.isEmpty {
            throw BenchError(description: "--cert, --key and --ca are required to publish\n\(Self.usage)")
        }
    }
}

/// A JSON telemetry body padded with a filler field to exactly `size` bytes when it can be.
func body(sequence: Int, deviceID: String, size: Int) -> [UInt8] {
    let head = #"{"deviceId":"\#(deviceID)","seq":\#(sequence),"temperature":22.5,"pad":""#
    let tail = #""}"#
    let fill = max(0, size - head.utf8.count - tail.utf8.count)
    return Array(head.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: fill) + Array(tail.utf8)
}

func run(_ options: Options) throws -> String {
    if let directory = options.makePKI {
        let bundle = try DevPKI.generate(outputDirectory: directory, devices: options.devices, now: Date())
        return #"{"pki":"\#(directory)","caChain":"\#(bundle.files.caChain)"}"#
    }
    var settings = HubClient.Settings(host: options.host, port: options.port, deviceID: options.deviceID,
                                      certificateFile: options.certificate, keyFile: options.key,
                                      trustAnchors: options.ca)
    settings.inFlightWindow = options.window
    settings.maximumPending = max(settings.maximumPending, options.count)
    var logger = Logger(label: "hub-bench")
    logger.logLevel = .warning
    let client = HubClient(settings: settings, logger: logger)
    let clock = ContinuousClock()
    let started = clock.now
    client.start()
    for sequence in 1...options.count {
        guard client.waitUntil(unacknowledgedBelow: options.backlog, timeout: .seconds(options.timeoutSeconds)) else { break }
        try client.send(body(sequence: sequence, deviceID: options.deviceID, size: options.size),
                        properties: IoTHubMessageProperties(messageID: "m\(sequence)"))
    }
    let flushed = client.flush(timeout: .seconds(options.timeoutSeconds))
    let elapsed = started.duration(to: clock.now)
    let statistics = client.statistics
    client.stop()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    guard flushed, statistics.acknowledged == options.count else {
        throw BenchError(description: "only \(statistics.acknowledged) of \(options.count) messages were acknowledged within \(options.timeoutSeconds) s (dropped \(statistics.dropped), connects \(statistics.connects), last error: \(client.lastError ?? "none")); check the broker log and the certificate paths")
    }
    let rate = Double(options.count) / seconds
    let milliseconds = Int((seconds * 1000).rounded())
    let secondsText = "\(milliseconds / 1000).\(String(1000 + milliseconds % 1000).dropFirst())"
    return #"{"tool":"hub-bench","window":\#(options.window),"backlog":\#(options.backlog),"messages":\#(options.count),"size":\#(options.size),"seconds":\#(secondsText),"messages_per_second":\#(Int(rate.rounded())),"connects":\#(statistics.connects)}"#
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    print(try run(options))
} catch {
    let line = "hub-bench: \(error)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
