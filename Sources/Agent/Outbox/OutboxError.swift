/// Why the outbox refused a call, or why a state directory or pacer setting cannot be used.
///
/// A struct with an extensible ``Code`` (this is a boundary the agent's doctor
/// and CLI show, and its set of failures will grow). ``description`` says what failed, what was
/// expected against what was found, and what to do.
///
/// Storage failures (a full disk, an unwritable folder, a corrupt file) are *not* thrown: the
/// outbox recovers from them itself (moves a corrupt file aside, degrades to memory) and reports
/// them through ``Outbox/mode`` and the log. What is thrown is what the caller can fix.
public struct OutboxError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ name: String) { description = name }

        /// The state directory is empty or not an absolute path.
        public static let invalidStateDirectory = Code("invalidStateDirectory")
        /// The state directory could not be created, is not a directory, or is not writable.
        public static let stateDirectoryUnusable = Code("stateDirectoryUnusable")
        /// One message is larger than the whole byte quota, so it could never be kept.
        public static let messageTooLarge = Code("messageTooLarge")
        /// A message property (name or value) is longer than the compact encoding holds.
        public static let propertyTooLong = Code("propertyTooLong")
        /// A configuration value is out of range (quota, age, pacer rate or burst).
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// The sequence counter reached its end (2^63 - 1); never in practice.
        public static let sequenceExhausted = Code("sequenceExhausted")
    }

    public var code: Code
    /// What failed and what to do, in full.
    public var reason: String
    /// The file or folder concerned, when there is one.
    public var path: String?

    public init(_ code: Code, _ reason: String, path: String? = nil) {
        self.code = code
        self.reason = reason
        self.path = path
    }

    public var description: String { "outbox: \(reason)" }
}
