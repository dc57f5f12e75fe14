import Foundation
import TestSupport
import Testing

/// The `localhub` executable as an engineer uses it: `serve` in one process, the admin commands
/// in others, all against a state folder in /tmp and a free port on 127.0.0.1.
@Suite(.serialized)
struct LocalHubCLITests {
    func localhub(_ arguments: [String]) throws -> Outcome {
        try run(builtExecutable("localhub"), arguments)
    }

    /// Starts `localhub serve ARGUMENTS`; returns it and the lines it printed up to and with
    /// "LocalHub listening…", printed once every socket listens (fewer lines if it failed).
    func serve(_ arguments: [String]) throws -> (Process, [String]) {
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: try builtExecutable("localhub"))
        serve.arguments = ["serve"] + arguments
        let out = Pipe()
        serve.standardOutput = out
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        var banner = Data()
        while !String(decoding: banner, as: UTF8.self).contains("LocalHub listening") || banner.last != UInt8(ascii: "\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            banner += chunk
        }
        return (serve, String(decoding: banner, as: UTF8.self).split(separator: "\n").map(String.init))
    }

    @Test func withoutAHubTheCommandsExit2AndSayHowToStartIt() throws {
        let folder = try TemporaryDirectory(prefix: "localhub-cli")
        let state = folder.file("never-created")
        let result = try localhub(["device", "list", "--state-dir", state])
        #expect(result.status == 2)
        #expect(result.stderr.contains("localhub: LocalHub is not running"))
        #expect(result.stderr.contains("start it with: localhub serve --state-dir \(state)"))
    }

    @Test func serveThenRegisterSetTheTwinAndCallAMethodOnAnOfflineDevice() throws {
        let folder = try TemporaryDirectory(prefix: "localhub-cli")
        let state = folder.file("state")
        let (serve, banner) = try self.serve(["--state-dir", state, "--port", "0", "--log-level", "warning"])
        defer { if serve.isRunning { serve.terminate() } }
        let line = banner.joined(separator: "\n")
        try #require(line.hasPrefix("LocalHub listening on 127.0.0.1:"), "serve said: \(line)")
        #expect(line.contains("admin socket \(state)/admin.sock"))

        let thumbprint = String(repeating: "ab", count: 32)
        let add = try localhub(["device", "add", "dev-1", "--thumbprint", thumbprint, "--state-dir", state])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout == "registered dev-1 (selfSigned)\n")

        let list = try localhub(["device", "list", "--state-dir", state])
        let row = list.stdout.split(separator: "\n").first { $0.hasPrefix("dev-1 ") }.map { $0.split(separator: " ") }
        #expect(row == ["dev-1", "selfSigned", "no", Substring(thumbprint.uppercased()), "-"], "never connected: no last certificate")

        let set = try localhub(["twin", "set", "dev-1", "sendFrequency=5s", "--state-dir", state])
        #expect(set.stdout == "desired properties of dev-1 now at $version 2\n")
        let show = try localhub(["twin", "show", "dev-1", "--state-dir", state])
        let twin = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]
        #expect((twin?["desired"] as? [String: Any])?["sendFrequency"] as? String == "5s")

        let method = try localhub(["method", "dev-1", "getHealth", "--timeout", "5s", "--state-dir", state])
        #expect(method.status == 2, "the device is offline: the hub answers 404")
        #expect(method.stdout.hasPrefix("status 404\n"))

        let c2d = try localhub(["c2d", "dev-1", #"{"command":"identify"}"#, "--property", "kind=command", "--state-dir", state])
        #expect(c2d.status == 0, "\(c2d.stderr)")
        let c2dLines = c2d.stdout.split(separator: "\n")
        #expect(c2dLines.prefix(2) == ["queued for dev-1 (offline or not subscribed)",
                                      "queued 1, locked 0, completed 0, deadLettered 0, expired 0"])
        #expect(c2dLines.dropFirst(2).first?.contains(": queued, 0 delivery(ies), expires ") == true, "\(c2d.stdout)")
        let queue = try localhub(["c2d", "dev-1", "--state-dir", state])
        #expect(queue.stdout.hasPrefix("queued 1, locked 0, completed 0, deadLettered 0, expired 0\n"), "\(queue.stdout)")

        serve.interrupt()
        serve.waitUntilExit()
        #expect(serve.terminationStatus == 0, "Ctrl-C stops the hub cleanly")
        #expect(!FileManager.default.fileExists(atPath: state + "/admin.sock"))
    }
}
