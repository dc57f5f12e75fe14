import TestSupport
import Foundation
import Testing

/// `fieldagent run` stops cleanly on SIGTERM (systemd's stop) and SIGINT (Ctrl-C): after the
/// current sample it flushes and exits 0. The signals are taken by a thread waiting in `sigwait`,
/// not a Dispatch source, so this is the test that the thread really gets them.
@Suite struct SignalTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func runStopsCleanlyOnASignal(_ signal: Int32) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try fieldagentExecutable())
        process.arguments = ["run", "--board", "boards/sim-factory-line.yaml", "--sink", "stdout",
                             "--send-frequency", "2s", "--time-scale", "1", "--aggregate-window", "0s"]
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // A running agent: its first message is out. Then the signal.
        var first = Data()
        while !first.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            first.append(chunk)
        }
        #expect(first.contains(UInt8(ascii: "\n")), "the agent printed no message before exiting")
        kill(process.processIdentifier, signal)
        // An agent that ignores the signal is killed after 15 s, and the status below says so.
        let killer = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 15, execute: killer)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        killer.cancel()
        #expect(process.terminationReason == .exit, "the agent did not exit by itself on signal \(signal):\n\(stderr)")
        #expect(process.terminationStatus == 0, "\(stderr)")
    }
}
