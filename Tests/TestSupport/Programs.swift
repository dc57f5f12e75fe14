import Foundation

/// The `openssl` command, an independent oracle for what the OpenSSL C API computed.
public enum OpenSSLCommand {
    public static let path = "/usr/bin/openssl"

    /// Runs `openssl ARGUMENTS`; returns the exit status and stdout + stderr.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runProgram(path, arguments)
    }
}

/// Runs a program to its end: exit status and what it printed (stdout and stderr together).
public func runProgram(_ path: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let stdin = Pipe()
    if input != nil { process.standardInput = stdin }
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
