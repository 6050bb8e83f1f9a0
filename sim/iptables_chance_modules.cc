#include "sim/iptables_chance_modules.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sim/ip_address.h"

namespace sim {
namespace {

constexpr double kTwoTo31 = 2147483648.0;
// xt_limit's XT_LIMIT_SCALE: periods are in 1/10000 s.
constexpr uint64_t kLimitScale = 10000;

absl::Status Bad(const ChanceModule& m, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("-m ", m.name, ": ", what));
}

bool IsRecentCommand(absl::string_view opt) {
  return opt == "--set" || opt == "--rcheck" || opt == "--update" ||
         opt == "--remove";
}

absl::Status StatisticOption(ChanceModule* m, absl::string_view opt,
                             absl::string_view value, bool neg) {
  uint32_t n = 0;
  if (opt == "--mode") {
    if (neg) return Bad(*m, "--mode cannot be inverted");
    if (value != "random" && value != "nth") {
      return Bad(
          *m, absl::StrCat("unknown --mode \"", value, "\" (random or nth)"));
    }
    m->mode = std::string(value);
    return absl::OkStatus();
  }
  if (opt == "--probability") {
    double p = 0;
    if (!absl::SimpleAtod(value, &p) || !(p >= 0 && p <= 1)) {
      return Bad(*m, absl::StrCat("--probability \"", value,
                                  "\" must be between 0 and 1"));
    }
    m->probability = static_cast<uint32_t>(std::lround(kTwoTo31 * p));
    m->negate = m->negate || neg;
    return absl::OkStatus();
  }
  if (!absl::SimpleAtoi(value, &n)) {
    return Bad(*m, absl::StrCat(opt, " \"", value, "\" is not a number"));
  }
  if (opt == "--every") {
    if (n == 0) return Bad(*m, "--every 0 is invalid (1 or more)");
    m->every = n;
    m->negate = m->negate || neg;
    return absl::OkStatus();
  }
  if (neg) return Bad(*m, "--packet cannot be inverted");
  m->packet = n;
  return absl::OkStatus();
}

absl::Status RecentOption(ChanceModule* m, absl::string_view opt,
                          absl::string_view value, bool neg) {
  if (IsRecentCommand(opt)) {
    if (!m->command.empty()) {
      return Bad(*m, "only one of --set, --rcheck, --update, --remove");
    }
    m->command = std::string(opt.substr(2));
    m->negate = neg;
    return absl::OkStatus();
  }
  if (neg) return Bad(*m, absl::StrCat(opt, " cannot be inverted"));
  if (opt == "--seconds" || opt == "--hitcount") {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(value, &n) || n == 0) {
      return Bad(*m, absl::StrCat(opt, " \"", value, "\" (1 or more)"));
    }
    (opt == "--seconds" ? m->seconds : m->hitcount) = n;
  } else if (opt == "--reap") {
    m->reap = true;
  } else if (opt == "--rttl") {
    m->rttl = true;
  } else if (opt == "--name") {
    m->rname = std::string(value);
  } else if (opt == "--mask") {
    absl::StatusOr<IpAddress> a = IpAddress::Parse(value);
    bool v4 = m->mask.find(':') == std::string::npos;
    if (!a.ok() || a->is_v4() != v4) {
      return Bad(*m, absl::StrCat("--mask \"", value,
                                  "\" is not an address of the family"));
    }
    m->mask = a->ToString();
  } else {
    m->side = std::string(opt);  // --rsource / --rdest
  }
  return absl::OkStatus();
}

// xt_limit's parse_rate: "N[/second|minute|hour|day]" (any prefix of the
// unit) to the kernel's period.
absl::Status LimitRate(ChanceModule* m, absl::string_view value) {
  size_t slash = value.find('/');
  uint64_t mult = 1;
  if (slash != absl::string_view::npos) {
    std::string unit = absl::AsciiStrToLower(value.substr(slash + 1));
    const std::pair<const char*, uint64_t> kUnits[] = {
        {"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}};
    mult = 0;
    for (const auto& [name, m] : kUnits) {
      if (!unit.empty() && absl::StartsWith(name, unit)) {
        mult = m;
        break;
      }
    }
  }
  uint32_t r = 0;
  if (mult == 0 || !absl::SimpleAtoi(value.substr(0, slash), &r) || r == 0) {
    return Bad(*m, absl::StrCat("bad --limit \"", value,
                                "\" (N/second|minute|hour|day)"));
  }
  uint64_t period = kLimitScale * mult / r;
  if (period == 0)
    return Bad(*m, absl::StrCat("--limit \"", value, "\" is too fast"));
  m->period = static_cast<uint32_t>(period);
  return absl::OkStatus();
}

// xt_limit's print_rate: the largest unit whose count is exact enough.
std::string LimitRateText(uint32_t period) {
  const std::pair<const char*, uint64_t> kRates[] = {
      {"day", kLimitScale * 86400},
      {"hour", kLimitScale * 3600},
      {"min", kLimitScale * 60},
      {"sec", kLimitScale}};
  size_t i = 1;
  for (; i < 4; ++i) {
    uint64_t mult = kRates[i].second;
    if (period > mult || mult / period < mult % period) break;
  }
  return absl::StrCat(kRates[i - 1].second / period, "/", kRates[i - 1].first);
}

absl::Status LimitOption(ChanceModule* m, absl::string_view opt,
                         absl::string_view value, bool neg) {
  if (neg) return Bad(*m, absl::StrCat(opt, " cannot be inverted"));
  if (opt == "--limit") return LimitRate(m, value);
  uint32_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n == 0 || n > 10000) {
    return Bad(*m, absl::StrCat("--limit-burst \"", value, "\" (1..10000)"));
  }
  m->burst = n;
  return absl::OkStatus();
}

absl::StatusOr<Match> FinishStatistic(const ChanceModule& m,
                                      std::vector<std::string>* canon) {
  Match match;
  match.kind = Match::Kind::kChance;
  if (m.mode == "random") {
    if (!m.probability || m.every || m.packet) {
      return Bad(m, "--mode random takes --probability (only)");
    }
    double p = *m.probability / kTwoTo31;
    match.chance = m.negate ? 1 - p : p;
    *canon = {"--mode", "random"};
    if (m.negate) canon->push_back("!");
    canon->push_back("--probability");
    canon->push_back(absl::StrFormat("%.11f", p));
  } else if (m.mode == "nth") {
    if (!m.every || !m.packet || m.probability) {
      return Bad(m, "--mode nth takes --every and --packet");
    }
    if (*m.packet >= *m.every) {
      return Bad(m, absl::StrCat("--packet ", *m.packet,
                                 " must be less than --every ", *m.every));
    }
    // The counter is state: over packets, one in `every` matches.
    double p = 1.0 / *m.every;
    match.chance = m.negate ? 1 - p : p;
    *canon = {"--mode", "nth"};
    if (m.negate) canon->push_back("!");
    for (std::string s : {std::string("--every"), absl::StrCat(*m.every),
                          std::string("--packet"), absl::StrCat(*m.packet)}) {
      canon->push_back(s);
    }
  } else {
    return Bad(m, "needs --mode random|nth");
  }
  match.chance_what = absl::StrCat("-m statistic ", absl::StrJoin(*canon, " "));
  return match;
}

absl::StatusOr<Match> FinishRecent(const ChanceModule& m,
                                   std::vector<std::string>* canon) {
  if (m.command.empty()) {
    return Bad(m, "needs one of --set, --rcheck, --update, --remove");
  }
  if (m.reap && m.seconds == 0) return Bad(m, "--reap needs --seconds");
  if (m.command == "set" && (m.seconds || m.hitcount || m.rttl)) {
    return Bad(m,
               "--seconds, --hitcount and --rttl need --rcheck or "
               "--update");
  }
  if (m.negate) canon->push_back("!");
  canon->push_back("--" + m.command);
  if (m.seconds) {
    canon->push_back("--seconds");
    canon->push_back(absl::StrCat(m.seconds));
  }
  if (m.reap) canon->push_back("--reap");
  if (m.hitcount) {
    canon->push_back("--hitcount");
    canon->push_back(absl::StrCat(m.hitcount));
  }
  if (m.rttl) canon->push_back("--rttl");
  for (const std::string& s : {std::string("--name"), m.rname,
                               std::string("--mask"), m.mask, m.side}) {
    canon->push_back(s);
  }
  Match match;
  match.kind = Match::Kind::kChance;
  // --set adds the address and matches; the others ask the list, which the
  // trace cannot see.
  match.chance = m.command == "set" ? (m.negate ? 0 : 1) : -1;
  match.chance_what = absl::StrCat("-m recent ", absl::StrJoin(*canon, " "));
  return match;
}

}  // namespace

bool ChanceOwns(const ChanceModule& m, absl::string_view opt) {
  if (m.name == "statistic") {
    return opt == "--mode" || opt == "--probability" || opt == "--every" ||
           opt == "--packet";
  }
  if (m.name == "recent") {
    return IsRecentCommand(opt) || opt == "--seconds" || opt == "--reap" ||
           opt == "--hitcount" || opt == "--rttl" || opt == "--name" ||
           opt == "--mask" || opt == "--rsource" || opt == "--rdest";
  }
  return opt == "--limit" || opt == "--limit-burst";
}

bool ChanceOptionTakesValue(absl::string_view opt) {
  return !IsRecentCommand(opt) && opt != "--reap" && opt != "--rttl" &&
         opt != "--rsource" && opt != "--rdest";
}

absl::Status ChanceOption(ChanceModule* m, absl::string_view opt,
                          absl::string_view value, bool neg) {
  if (m->name == "statistic") return StatisticOption(m, opt, value, neg);
  if (m->name == "recent") return RecentOption(m, opt, value, neg);
  return LimitOption(m, opt, value, neg);
}

absl::StatusOr<Match> FinishChanceModule(const ChanceModule& m,
                                         std::vector<std::string>* canon) {
  if (m.name == "statistic") return FinishStatistic(m, canon);
  if (m.name == "recent") return FinishRecent(m, canon);
  // The token bucket is state: either answer, with unknown probability.
  *canon = {"--limit",
            LimitRateText(m.period != 0 ? m.period : kLimitScale * 3600 / 3)};
  if (m.burst != 5) {
    canon->push_back("--limit-burst");
    canon->push_back(absl::StrCat(m.burst));
  }
  Match match;
  match.kind = Match::Kind::kChance;
  match.chance = -1;
  match.chance_what = absl::StrCat("-m limit ", absl::StrJoin(*canon, " "));
  return match;
}

}  // namespace sim
