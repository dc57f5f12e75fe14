import AgentRuntime
import ArgumentParser
import CLISupport
import Boards
import Configuration
import FoundationEssentials
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loads and opens a board, printing every problem of a bad board file and exiting 64.
func openBoard(_ options: BoardOptions) throws -> Board {
    try openBoard(path: options.board, timeScale: options.timeScale)
}

func openBoard(path: String, timeScale: Double?) throws -> Board {
    let file: BoardFile
    do {
        file = try BoardFile.load(path: path)
    } catch {
        printError("fieldagent: the board file has \(error)")
        throw Exit.usage
    }
    do {
        return try Board.open(file, timeScale: timeScale)
    } catch {
        printError("fieldagent: \(error)")
        throw Exit.failed
    }
}

func writeLine(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

// MARK: Settings

/// Reads the settings: defaults < the `--config` file < `FIELDAGENT_<KEY>` variables < flags.
/// Prints every problem at once and exits 64.
func loadSettings(file: String?, flags: [(flag: String, text: String)], required: [Requirement]) throws -> AgentConfig {
    do {
        return try AgentConfig.load(file: file, environment: ProcessInfo.processInfo.environment, flags: flags, required: required)
    } catch {
        printError("fieldagent: the settings have \(error)")
        throw Exit.usage
    }
}

/// The flag layer: the `String?` options a command was given whose flag is a key's (a property
/// `stateDir` is `--state-dir`). Found by reflection, so no command maps flags to keys by hand.
func givenOptions(_ command: some ParsableArguments) -> [(flag: String, text: String)] {
    let flags = AgentConfig.keys.compactMap(\.flag)
    return Mirror(reflecting: command).children.compactMap { child in
        guard let label = child.label, let option = child.value as? Option<String?>, let text = option.wrappedValue else { return nil }
        let name = label.drop { $0 == "_" }.lowercased()
        return flags.first { $0.dropFirst(2).replacing("-", with: "") == name }.map { ($0, text) }
    }
}

/// A `run` flag's help, from its key: what it does, its range, its default, its other names.
func settingHelp(_ path: String) -> ArgumentHelp {
    guard let key = AgentConfig.keys.first(where: { $0.path == path }) else { preconditionFailure("settingHelp: no key \(path)") }
    let range = key.range.isEmpty ? "" : key.type == "one of" ? " One of: \(key.range)." : " Range: \(key.range)."
    return ArgumentHelp("\(key.summary)\(range) Default: \(key.defaultText).\(environmentNote(path))")
}

/// " Also $FIELDAGENT_X or x in --config." for a key's flag help.
func environmentNote(_ path: String) -> String {
    " Also $\(SettingLayer.environmentVariable(for: path)) or \(path) in --config."
}
