// A strategy's parameters as one table: for each, its name, type, range,
// default and documentation, and the field of the strategy's options struct
// it sets. The table is the single source for validating a request's
// `params`, for the catalog the Generation service lists (GetInfo), for
// `tandem generate --help` and for the README tables. Defaults are read from
// a default-constructed options struct, so the documented default is the one
// the code uses.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "decoding/registry/strategy_params.h"

namespace tandem::decoding {

// One parameter as it is shown (catalog, help, README).
struct ParamInfo {
  std::string name;
  std::string type;           // int, real, bool, one of a|b|c, text
  std::string range;          // "1..32", "(0, 100]", "" for text
  std::string default_value;  // as a user would type it, or a description
  std::string doc;
};

template <typename Options>
class ParamTable {
 public:
  // Applies one value onto the options; INVALID_ARGUMENT "params.<key>: ...".
  using Setter = std::function<absl::Status(const std::string& key, const std::string& value, Options& o)>;

  // An integer in [lo, hi]. `field` returns a reference to an int or int64_t
  // member of the options.
  template <typename Field>
  ParamTable& Int(std::string name, int64_t lo, int64_t hi, Field field, std::string doc,
                  std::string default_text = "") {
    Options defaults{};
    Row row{{std::move(name), "int", absl::StrCat(lo, "..", hi),
             default_text.empty() ? absl::StrCat(field(defaults)) : std::move(default_text), std::move(doc)},
            [lo, hi, field](const std::string& key, const std::string& value, Options& o) {
              int64_t v = 0;
              if (absl::Status s = ParseInt64Param(key, value, lo, hi, &v); !s.ok()) return s;
              field(o) = static_cast<std::remove_reference_t<decltype(field(o))>>(v);
              return absl::OkStatus();
            }};
    rows_.push_back(std::move(row));
    return *this;
  }

  // A finite number in [lo, hi], or in (0, hi] when `positive` (temperatures
  // and slopes where 0 would divide by zero). `field` returns a float& or
  // double&.
  template <typename Field>
  ParamTable& Real(std::string name, double lo, double hi, Field field, std::string doc,
                   std::string default_text = "", bool positive = false) {
    Options defaults{};
    std::string range = positive ? absl::StrCat("(0, ", Number(hi), "]")
                                 : absl::StrCat("[", Number(lo), ", ", Number(hi), "]");
    Row row{{std::move(name), "real", std::move(range),
             default_text.empty() ? Number(field(defaults)) : std::move(default_text), std::move(doc)},
            [lo, hi, positive, field](const std::string& key, const std::string& value, Options& o) {
              double v = 0;
              absl::Status s = positive ? ParsePositiveRealParam(key, value, hi, &v)
                                        : ParseRealParam(key, value, lo, hi, &v);
              if (!s.ok()) return s;
              field(o) = static_cast<std::remove_reference_t<decltype(field(o))>>(v);
              return absl::OkStatus();
            }};
    rows_.push_back(std::move(row));
    return *this;
  }

  template <typename Field>
  ParamTable& PositiveReal(std::string name, double hi, Field field, std::string doc, std::string default_text = "") {
    return Real(std::move(name), 0, hi, field, std::move(doc), std::move(default_text), /*positive=*/true);
  }

  // true/1 or false/0.
  template <typename Field>
  ParamTable& Bool(std::string name, Field field, std::string doc) {
    Options defaults{};
    Row row{{std::move(name), "bool", "", field(defaults) ? "true" : "false", std::move(doc)},
            [field](const std::string& key, const std::string& value, Options& o) {
              bool v = false;
              if (absl::Status s = ParseBoolParam(key, value, &v); !s.ok()) return s;
              field(o) = v;
              return absl::OkStatus();
            }};
    rows_.push_back(std::move(row));
    return *this;
  }

  // One of `choices`; `set` stores the chosen one (an enum, a flag, ...).
  ParamTable& Choice(std::string name, std::vector<std::string> choices, std::string default_value,
                     std::function<void(const std::string& choice, Options& o)> set, std::string doc) {
    const std::string type = absl::StrJoin(choices, "|");
    Row row{{std::move(name), type, "", std::move(default_value), std::move(doc)},
            [choices, set](const std::string& key, const std::string& value, Options& o) {
              for (const std::string& c : choices) {
                if (c == value) {
                  set(value, o);
                  return absl::OkStatus();
                }
              }
              return BadParam(key, absl::StrCat("'", value, "' is not one of ", absl::StrJoin(choices, ", ")));
            }};
    rows_.push_back(std::move(row));
    return *this;
  }

  // Free text with a syntax of its own, checked by `set`.
  ParamTable& Text(std::string name, std::string default_value, Setter set, std::string doc) {
    rows_.push_back({{std::move(name), "text", "", std::move(default_value), std::move(doc)}, std::move(set)});
    return *this;
  }

  std::vector<ParamInfo> Describe() const {
    std::vector<ParamInfo> out;
    for (const Row& r : rows_) out.push_back(r.info);
    return out;
  }

  // Applies `params` onto *options. Unknown keys are INVALID_ARGUMENT listing
  // all of them and the documented names; a bad value names params.<key>.
  absl::Status Apply(std::string_view strategy, const std::map<std::string, std::string>& params,
                     Options* options) const {
    std::vector<std::string> unknown;
    for (const auto& [key, value] : params) {
      if (Find(key) == nullptr) unknown.push_back(key);
    }
    if (!unknown.empty()) {
      std::vector<std::string> documented;
      for (const Row& r : rows_) documented.push_back(r.info.name);
      return absl::InvalidArgumentError(absl::StrCat(
          "params: unknown parameter(s) ", absl::StrJoin(unknown, ", "), " for strategy '",
          absl::string_view(strategy.data(), strategy.size()), "' (documented: ",
          documented.empty() ? "none" : absl::StrJoin(documented, ", "), ")"));
    }
    for (const auto& [key, value] : params) {
      if (absl::Status s = Find(key)->set(key, value, *options); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  bool Has(std::string_view name) const { return Find(name) != nullptr; }

 private:
  struct Row {
    ParamInfo info;
    Setter set;
  };

  static std::string Number(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
  }

  const Row* Find(std::string_view name) const {
    for (const Row& r : rows_) {
      if (r.info.name == name) return &r;
    }
    return nullptr;
  }

  std::vector<Row> rows_;
};

}  // namespace tandem::decoding
