import Foundation

/// `scripts/connect-proxy.py` on 127.0.0.1: a CONNECT proxy that is not ours, with basic
/// authentication when `user` ("name:password") is given. Prints each tunnel it opens.
public final class ConnectProxy {
    let process = Process()
    let output = Pipe()
    public let port: UInt16

    public init(user: String?) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [repositoryPath("scripts/connect-proxy.py")] + (user.map { ["--user", $0] } ?? [])
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // "PORT n" comes once it listens; the read blocks until then.
        let text = Self.readLine(output.fileHandleForReading.fileDescriptor)
        guard let port = text.split(separator: " ").last.flatMap({ UInt16($0) }) else {
            throw BrokerError(message: "no port from connect-proxy.py: \(text)")
        }
        self.port = port
    }

    /// The next line the proxy prints (`CONNECT target`).
    public func nextLine() -> String { Self.readLine(output.fileHandleForReading.fileDescriptor) }

    /// One line from `fd` with plain blocking reads, a byte at a time (nothing past the line is taken).
    static func readLine(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != 10 { bytes.append(byte) }
        return String(decoding: bytes, as: UTF8.self)
    }

    deinit {
        // SIGKILL: the test runner's children may inherit an ignored SIGTERM.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
