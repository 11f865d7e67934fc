// Build-time generator of the SDK's typed strategy options
// (tandem/sdk/strategy_options.h): one struct per strategy of the registry,
// one std::optional field per documented parameter (with `= {}`, so that
// designated initializers naming a few fields stay quiet under -Wextra), an enum per choice
// parameter, and ToParams() giving the GenerateRequest.params map. Reading
// the registry itself (not the text of `tandem strategies`) means a new
// strategy or parameter reaches the SDK with the next build and cannot drift.
//
// Usage: tandem_sdk_options_gen OUTPUT_HEADER
#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "decoding/registry/strategy_registry.h"

namespace {

using tandem::decoding::ParamInfo;
using tandem::decoding::StrategyDefinition;

// Words a parameter name must not become verbatim (C++ keywords and the
// struct's own members).
const std::set<std::string>& Reserved() {
  static const std::set<std::string> kWords = {
      "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char", "class", "const",
      "constexpr", "continue", "default", "delete", "do", "double", "else", "enum", "explicit", "export",
      "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable",
      "namespace", "new", "noexcept", "not", "nullptr", "operator", "or", "private", "protected", "public",
      "register", "return", "short", "signed", "sizeof", "static", "struct", "switch", "template", "this",
      "throw", "true", "try", "typedef", "typename", "union", "unsigned", "using", "virtual", "void",
      "volatile", "while", "xor", "kName", "kParams", "ToParams", "requires", "concept", "co_await"};
  return kWords;
}

// "best_of_n" -> "BestOfN"; any non-alphanumeric byte starts a new word.
std::string Camel(const std::string& name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "P" + out;
  return out;
}

// A parameter name as a member: '.' (allowed in keys) becomes '_', keywords
// get a trailing '_'.
std::string Member(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "p_" + out;
  if (Reserved().count(out) != 0) out += '_';
  return out;
}

std::vector<std::string> Choices(const std::string& type) {
  std::vector<std::string> out;
  if (type.find('|') == std::string::npos) return out;
  std::stringstream in(type);
  for (std::string part; std::getline(in, part, '|');) out.push_back(part);
  return out;
}

std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// `text` as // comment lines of at most ~100 columns. No line may end in a
// backslash (it would splice the next source line into the comment), so a
// word ending in one is never the last word of a line.
void Comment(std::ostream& out, const std::string& indent, std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::stringstream words(text);
  std::string line;
  auto flush = [&] {
    if (!line.empty() && line.back() == '\\') line += '.';
    out << indent << "//" << line << "\n";
    line.clear();
  };
  for (std::string word; words >> word;) {
    if (!line.empty() && line.size() + word.size() > 96 && line.back() != '\\') flush();
    line += " " + word;
  }
  if (!line.empty()) flush();
}

void WriteStrategy(std::ostream& out, const StrategyDefinition& s) {
  const std::string type = Camel(std::string(s.name()));
  const std::vector<ParamInfo> params = s.params();
  Comment(out, "", std::string(s.description()));
  out << "struct " << type << " {\n";
  out << "  static constexpr std::string_view kName = " << Quote(std::string(s.name())) << ";\n";
  out << "  // Documented parameter names, in the registry's order.\n";
  out << "  static constexpr std::array<std::string_view, " << params.size() << "> kParams = {";
  for (size_t i = 0; i < params.size(); ++i) out << (i ? ", " : "") << Quote(params[i].name);
  out << "};\n";
  for (const ParamInfo& p : params) {
    out << "\n";
    const std::vector<std::string> choices = Choices(p.type);
    std::string meta = p.type;
    if (!p.range.empty()) meta += " " + p.range;
    Comment(out, "  ", p.doc + " [" + meta + "; default: " + (p.default_value.empty() ? "(empty)" : p.default_value) +
                           "]");
    const std::string member = Member(p.name);
    if (!choices.empty()) {
      const std::string enum_name = Camel(p.name);
      out << "  enum class " << enum_name << " {";
      for (size_t i = 0; i < choices.size(); ++i) out << (i ? ", " : " ") << "k" << Camel(choices[i]);
      out << " };\n";
      out << "  std::optional<" << enum_name << "> " << member << " = {};\n";
    } else if (p.type == "int") {
      out << "  std::optional<int64_t> " << member << " = {};\n";
    } else if (p.type == "real") {
      out << "  std::optional<double> " << member << " = {};\n";
    } else if (p.type == "bool") {
      out << "  std::optional<bool> " << member << " = {};\n";
    } else {  // text: the server parses its own syntax
      out << "  std::optional<std::string> " << member << " = {};\n";
    }
  }
  out << "\n  // The parameters that are set, by their documented names, as GenerateRequest.params.\n";
  out << "  std::map<std::string, std::string> ToParams() const {\n";
  out << "    std::map<std::string, std::string> out;\n";
  for (const ParamInfo& p : params) {
    const std::string member = Member(p.name);
    const std::vector<std::string> choices = Choices(p.type);
    out << "    if (" << member << ") ";
    if (!choices.empty()) {
      out << "{\n      switch (*" << member << ") {\n";
      for (const std::string& c : choices) {
        out << "        case " << Camel(p.name) << "::k" << Camel(c) << ": out[" << Quote(p.name) << "] = " << Quote(c)
            << "; break;\n";
      }
      out << "      }\n    }\n";
    } else if (p.type == "int") {
      out << "out[" << Quote(p.name) << "] = internal::IntParam(*" << member << ");\n";
    } else if (p.type == "real") {
      out << "out[" << Quote(p.name) << "] = internal::RealParam(*" << member << ");\n";
    } else if (p.type == "bool") {
      out << "out[" << Quote(p.name) << "] = internal::BoolParam(*" << member << ");\n";
    } else {
      out << "out[" << Quote(p.name) << "] = *" << member << ";\n";
    }
  }
  out << "    return out;\n  }\n};\n\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_HEADER\n", argv[0]);
    return 2;
  }
  std::ostringstream out;
  out << "// Generated by sdk/cpp/gen/strategy_options_gen.cc from tandem's strategy registry at build time;\n"
         "// do not edit. One struct per strategy, one optional field per documented parameter (unset =\n"
         "// the server's default). Pass one to GenerateOptions::Use().\n"
         "#pragma once\n\n"
         "#include <array>\n#include <cstdint>\n#include <map>\n#include <optional>\n#include <string>\n"
         "#include <string_view>\n\n"
         "#include \"tandem/sdk/param_text.h\"\n\n"
         "namespace tandem::strategy {\n\n";
  std::vector<std::string> names;
  for (const StrategyDefinition* s : tandem::decoding::Strategies()) {
    WriteStrategy(out, *s);
    names.emplace_back(s->name());
  }
  out << "// Every strategy of the registry this SDK was built from, in catalog order.\n";
  out << "inline constexpr std::array<std::string_view, " << names.size() << "> kStrategyNames = {";
  for (size_t i = 0; i < names.size(); ++i) out << (i ? ", " : "") << Quote(names[i]);
  out << "};\n\n}  // namespace tandem::strategy\n";

  // Rewrite only on change, so dependants are not rebuilt by every build.
  const std::string text = out.str();
  {
    std::ifstream old(argv[1], std::ios::binary);
    std::stringstream current;
    current << old.rdbuf();
    if (old && current.str() == text) return 0;
  }
  std::ofstream file(argv[1], std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    std::fprintf(stderr, "%s: cannot write %s\n", argv[0], argv[1]);
    return 1;
  }
  return 0;
}
