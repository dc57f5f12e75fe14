import Testing
import YAML

@Suite struct YAMLTests {
    @Test func mappingsKeepDocumentOrderAndEveryNodeItsLine() throws {
        let root = try #require(try YAMLNode.parse("""
            zeta: 1
            alpha:
              - first
              - { inner: "two" }
            middle: |
              text
            """))
        let pairs = try #require(root.mapping)
        #expect(pairs.map { $0.key.string } == ["zeta", "alpha", "middle"])
        #expect(pairs.map(\.key.mark.line) == [1, 2, 5])
        let list = try #require(pairs[1].value.sequence)
        #expect(list.map(\.mark.line) == [3, 4])
        #expect(list[0].scalar == YAMLScalar("first"))
        #expect(list[1].mapping?.first?.value.scalar == YAMLScalar("two", style: .doubleQuoted))
        #expect(pairs[2].value.scalar == YAMLScalar("text", style: .literal))
        #expect(pairs[1].value.mark == YAMLMark(line: 3, column: 3))
    }

    @Test func scalarsAreTextAsWrittenNeverResolved() throws {
        let root = try #require(try YAMLNode.parse("a: 0x76\nb: yes\nc: ~\nd:\ne: '1.50'\nf: !!str 5\n"))
        let values = try #require(root.mapping).map(\.value.scalar)
        #expect(values.map { $0?.string } == ["0x76", "yes", "~", "", "1.50", "5"])
        #expect(values.map { $0?.isPlain } == [true, true, true, true, false, false])
        #expect(values[5]?.tag == "tag:yaml.org,2002:str")
    }

    @Test func aliasesAreResolvedAndMarkedWhereTheyStand() throws {
        let root = try #require(try YAMLNode.parse("base: &b { x: 1 }\ncopy: *b\n"))
        let pairs = try #require(root.mapping)
        #expect(pairs[1].value.mapping?.first?.value.string == "1")
        #expect(pairs[1].value.mark.line == 2)
    }

    @Test func refusalsNameTheLineAndTheProblem() {
        let cases: [(String, Int, String)] = [
            ("board: [unclosed\n", 2, "flow sequence"),
            ("a: 1\na: 2\n", 2, "the key 'a' is given twice in one mapping (first on line 1)"),
            ("a: *nowhere\n", 1, "alias *nowhere names no anchor"),
            ("a: 1\n---\nb: 2\n", 2, "a second document"),
            ("a: b: c\n", 1, "mapping values are not allowed"),
            ("a:\n\tb: 1\n", 2, "cannot start any token"),
        ]
        for (text, line, words) in cases {
            #expect {
                _ = try YAMLNode.parse(text)
            } throws: { error in
                guard let error = error as? YAMLError else { return false }
                return error.mark.line == line && error.problem.contains(words)
            }
        }
    }

    @Test func nestedAliasesCannotStandForBillionsOfNodes() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        #expect {
            _ = try YAMLNode.parse(text)
        } throws: { error in
            (error as? YAMLError)?.problem.contains("more than \(YAMLNode.maximumNodes) nodes") == true
        }
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: YAMLError.self) { _ = try YAMLNode.parse(deep) }
    }

    @Test func emptyTextHasNoDocument() throws {
        #expect(try YAMLNode.parse("") == nil)
        #expect(try YAMLNode.parse("# only a comment\n") == nil)
    }
}
