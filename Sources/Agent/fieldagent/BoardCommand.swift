import CLISupport
import ArgumentParser
import Boards
import Configuration

extension FieldAgent {
    struct BoardCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "board",
            abstract: "Work with board files.",
            subcommands: [Validate.self])

        struct Validate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check board files and list every problem at once (exit 64 if any).")

            @Argument(help: "Board files.")
            var files: [String]

            func run() throws {
                var bad = false
                for path in files {
                    do {
                        let file = try BoardFile.load(path: path)
                        writeLine("OK    \(path): \(file.name), \(file.backend.rawValue), \(file.chips.count) chips")
                    } catch {
                        bad = true
                        writeLine("FAIL  \(path): \(error)")
                    }
                }
                if bad { throw Exit.usage }
            }
        }
    }
}
