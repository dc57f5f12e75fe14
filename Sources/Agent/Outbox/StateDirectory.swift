import SystemCalls

/// Where the agent keeps what must survive a restart (the outbox, the twin cache).
///
/// Which folder that is (default, file, environment, flag) is the configuration's business: the
/// agent's `state_dir` key. This type only checks the path and prepares the folder.
/// ``init(_:)`` is pure: it validates the text only. ``prepare()`` touches the file system: it
/// creates the folder (mode 0700, parents as needed) and checks that the agent may write in it.
public struct StateDirectory: Sendable, Equatable, CustomStringConvertible {
    public static let defaultPath = "/var/lib/fieldagent"

    /// An absolute path without a trailing slash (except `/` itself).
    public let path: String

    /// - Throws: ``OutboxError/Code/invalidStateDirectory`` when `path` is empty or relative (a
    ///   relative path would move with the working directory of whoever starts the agent).
    public init(_ path: String) throws(OutboxError) {
        guard !path.isEmpty else {
            throw OutboxError(.invalidStateDirectory,
                              "the state directory is empty; give an absolute folder such as \(Self.defaultPath)")
        }
        guard path.hasPrefix("/") else {
            throw OutboxError(.invalidStateDirectory,
                              "the state directory \"\(path)\" is a relative path; give an absolute folder such as \(Self.defaultPath)",
                              path: path)
        }
        self.path = path.trimmingTrailingSlashes
    }

    /// A path already known to be absolute (tests' temporary folders).
    init(absolute path: String) { self.path = path }

    public var description: String { path }

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
                              "state directory \(path) is not usable: \(error.outboxText); "
                                + "create it writable for the user the agent runs as, or choose another state directory",
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
