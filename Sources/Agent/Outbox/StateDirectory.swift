import SystemCalls

/// Where the agent keeps what must survive a restart (the outbox, the twin cache).
///
/// ## Resolution
/// `--state-dir` wins over `FIELDAGENT_STATE_DIR`, which wins over ``defaultPath``
/// (defaults < environment < CLI). ``resolve(flag:environment:)`` is pure: it
/// decides and validates the text only. ``prepare()`` touches the file system: it creates the
/// folder (mode 0700, parents as needed) and checks that the agent may write in it.
public struct StateDirectory: Sendable, Equatable, CustomStringConvertible {
    /// Where the path came from, so an error can name the setting to change.
    public enum Source: String, Sendable, Equatable {
        case flag = "--state-dir"
        case environment = "FIELDAGENT_STATE_DIR"
        case `default` = "the default"
    }

    public static let defaultPath = "/var/lib/fieldagent"
    public static let environmentVariable = "FIELDAGENT_STATE_DIR"

    /// An absolute path without a trailing slash (except `/` itself).
    public let path: String
    public let source: Source

    public init(path: String, source: Source) {
        self.path = path
        self.source = source
    }

    public var description: String { "\(path) (from \(source.rawValue))" }

    /// The state directory: the flag if given, else the environment variable if set, else
    /// ``defaultPath``.
    ///
    /// - Throws: ``OutboxError/Code/invalidStateDirectory`` when the chosen value is empty or
    ///   relative (a relative path would move with the working directory of whoever starts the
    ///   agent); the message names the setting.
    public static func resolve(flag: String?, environment: [String: String]) throws(OutboxError) -> StateDirectory {
        let (raw, source): (String, Source)
        if let flag {
            (raw, source) = (flag, .flag)
        } else if let value = environment[environmentVariable] {
            (raw, source) = (value, .environment)
        } else {
            (raw, source) = (defaultPath, .default)
        }
        let trimmed = raw.trimmingTrailingSlashes
        guard !raw.isEmpty else {
            throw OutboxError(.invalidStateDirectory,
                              "\(source.rawValue) is empty; give an absolute folder such as \(defaultPath), or leave it unset for the default")
        }
        guard raw.hasPrefix("/") else {
            throw OutboxError(.invalidStateDirectory,
                              "\(source.rawValue) is \"\(raw)\", a relative path; give an absolute folder such as \(defaultPath)",
                              path: raw)
        }
        return StateDirectory(path: trimmed, source: source)
    }

    /// Creates the folder if missing (mode 0700) and checks that files can be created in it.
    ///
    /// - Throws: ``OutboxError/Code/stateDirectoryUnusable`` naming the folder, the libc call
    ///   that failed, its reason, and the fix.
    public func prepare() throws(OutboxError) {
        do {
            try POSIX.makeDirectories(path, mode: 0o700)
            try POSIX.checkWritableDirectory(path)
        } catch {
            throw OutboxError(.stateDirectoryUnusable,
                              "state directory \(path) (from \(source.rawValue)) is not usable: \(error.outboxText); "
                                + "create it writable for the user the agent runs as, or point \(source == .flag ? "--state-dir" : "--state-dir or FIELDAGENT_STATE_DIR") elsewhere",
                              path: path)
        }
    }

    /// A file inside the folder.
    public func file(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }
}

extension SystemError {
    /// `mkdir /srv/agent: Permission denied (errno 13)`, as the outbox's messages name a failed call.
    var outboxText: String { "\(function) \(subject ?? ""): \(reason) (errno \(errno))" }
}

extension String {
    var trimmingTrailingSlashes: String {
        var text = Substring(self)
        while text.count > 1, text.hasSuffix("/") { text = text.dropLast() }
        return String(text)
    }
}
