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
    let outcome = try execute(path, arguments, input: input, mergeErrors: true)
    return (outcome.status, outcome.stdout)
}

/// Runs a program to its end and returns what it printed. stdout is read from a pipe; stderr goes
/// to a temporary file (or into stdout with `mergeErrors`), so a program that fills one stream
/// while this process waits on the other cannot block.
public func execute(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                    directory: String? = nil, input: String? = nil, mergeErrors: Bool = false) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    process.standardOutput = out
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: errorFile) }
    if mergeErrors {
        process.standardError = out
    } else {
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: errorFile.path])
        }
        process.standardError = try FileHandle(forWritingTo: errorFile)
    }
    let stdin = Pipe()
    if input != nil { process.standardInput = stdin }
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let stderr = mergeErrors ? Data() : ((try? Data(contentsOf: errorFile)) ?? Data())
    return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
}
