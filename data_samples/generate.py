"""Deterministic generator for datapipe's small test fixtures (stdlib + zstandard only).

All text below is original and synthetic; URLs use reserved ``example`` domains. Running the
generator twice writes byte-identical files (fixed seeds, gzip members with mtime 0 and no
file name, record ids and dates derived from the seed, never from the clock).

Fixtures and what they exercise:

``cc_pages.warc.gz``
    Common Crawl style WARC (one gzip member per record): warcinfo, request/response pairs and
    one metadata record for ~120 pages. English and Simplified Chinese articles on six topics
    (language ID, quality scoring, LDA topics, tokenizer training); near-duplicates and exact
    duplicates at other URLs (MinHash and exact dedup); two sites whose pages repeat a 60+ word
    footer / cookie notice (exact substring dedup); product listings, "buy now" spam, keyword
    stuffed SEO pages and Chinese gambling spam (heuristic filters, ads topic downsampling);
    navigation-heavy and low-quality pages (boilerplate removal, Gopher/C4 style rules). Ingest
    edge cases: GBK/GB2312 pages (one declaring its charset only in ``<meta charset>``), an
    ISO-8859-1 page, a chunked body, a gzip Content-Encoding body, a 301 with an empty body, a
    PNG, a PDF, and an HTML page with no visible text.
``cc_pages.warc.wet.gz``
    WET file: warcinfo then ``conversion`` records (en/zh, near-duplicates, one empty record).
``docs.jsonl``
    Plain ``{"text": ...}`` lines: en/zh mix, exact duplicates, near-duplicates and spam.
``docs_dolma.jsonl.gz``
    Dolma layout (id, text, source, added, created, metadata.url, metadata.warc_url).
``docs_ccnet.jsonl.zst``
    cc_net layout (raw_content, language, perplexity, bucket, ...) compressed with zstandard.
``bad/``
    One broken input per file: a truncated gzip WARC, malformed WARC headers between good
    records, a binary payload claiming text/html, a JSONL with invalid UTF-8 / invalid JSON /
    empty text / missing text, a ~3 MB document, a ``.gz`` that is not gzip, and WARC gzip
    bombs (a record declaring ~200 MiB, and a gzip Content-Encoding body inflating to ~200 MiB).
``_labels.jsonl``
    Ground truth for every document in the well-formed fixtures (kind, language, topic,
    duplicate-of), so stage tests can check what a filter or dedup step should find.
``MANIFEST.json``
    sha256, size and record/document counts of every file above.
"""

import argparse
import base64
import hashlib
import html
import json
import random
import re
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import zstandard

SEED = 20240522
CRAWL = "CC-MAIN-2024-22"
BASE_DATE = datetime(2024, 5, 20, tzinfo=UTC)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "generated"
DOCUMENT_RECORD_TYPES = ("response", "resource", "conversion")
BOMB_BYTES = 200 * 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Original text. Paragraphs are separated by blank lines; English lines are joined with a
# space, Chinese lines with nothing.
# ---------------------------------------------------------------------------------------------

EN_TEXT = {
    "science": """
Astronomers measure the distance to nearby stars with a method called parallax. As the Earth
travels around the Sun, a close star appears to shift slightly against the far more distant
background. The angle of that shift is tiny, often less than one arcsecond, yet careful
telescopes can record it over six months. From the angle and the known size of the Earth's
orbit, simple geometry gives the distance. The unit called the parsec comes directly from this
idea, and it equals about 3.26 light years.

Every living cell copies its DNA before it divides, and the process is remarkably accurate.
Enzymes called polymerases read one strand and build a matching partner, base by base. When a
wrong base slips in, proofreading machinery usually notices the mismatch and removes it. The
remaining errors, roughly one in a billion letters, are a major source of the variation that
natural selection acts on. Researchers who study ageing and cancer pay close attention to how
this repair system slowly wears down.

Water is unusual because its solid form floats on its liquid form. In ice, hydrogen bonds lock
the molecules into an open hexagonal lattice that takes up more space than the liquid. This is
why lakes freeze from the top down, leaving a layer of liquid water underneath where fish
survive the winter. If ice sank, many lakes in cold climates would freeze solid. The same bonds
also give water its high heat capacity, which moderates the weather along coasts.
""",
    "cooking": """
A good loaf of sourdough starts several days before baking, with a starter of flour and water
that has been fed regularly. Wild yeasts and lactic acid bacteria in the starter produce gas
and the gentle sour taste. Bakers mix the dough, let it rest, and then fold it every half hour
to build strength without heavy kneading. A long, cool proof in the refrigerator deepens the
flavour and makes the dough easier to score. Baking inside a covered pot traps steam, which
lets the crust expand before it sets.

Stir-frying depends on preparation more than on the cooking itself. Every vegetable should be
cut to a similar size, the sauce mixed in a small bowl, and the garlic and ginger kept within
reach. The pan must be very hot before the oil goes in, and food should be added in small
batches so the temperature does not collapse. Meat is often marinated briefly with a little
starch, which keeps it tender. The whole dish may cook in under five minutes, so there is no
time to chop once the flame is on.

Making stock at home is one of the cheapest ways to improve everyday meals. Onion skins,
carrot ends, celery leaves and a few bones can be saved in the freezer until there is enough
to fill a pot. Cover them with cold water, bring it slowly to a simmer and skim off the foam
that rises during the first half hour. A gentle simmer for two or three hours extracts flavour
without making the liquid cloudy. Strained and cooled, the stock keeps for several days or can
be frozen in portions.
""",
    "history": """
The printing press built by Johannes Gutenberg around 1450 combined several existing ideas
into a practical system. Movable metal type could be cast in large numbers from a hand mould,
and an oil-based ink stuck to metal better than the inks used for woodblocks. A screw press,
adapted from those used for wine and olive oil, pressed the paper evenly onto the type. Within
fifty years printers were working in more than two hundred European towns. Books became
cheaper, and ideas travelled faster than any government could control.

The Silk Road was never a single road but a shifting network of routes linking China, Central
Asia, Persia and the Mediterranean. Caravans carried silk, spices, glass, paper and horses,
though few merchants travelled the whole distance. Goods usually passed through many hands,
gaining value at each oasis town along the way. Religions and technologies moved along the
same paths, including Buddhism and the knowledge of papermaking. Historians now see the
network as an early example of long-distance economic integration.

In the early nineteenth century, canals transformed the economy of Britain before the railways
arrived. A single horse could pull a barge carrying many times the load it could drag along a
rough road. Coal, pottery and grain moved cheaply between mines, workshops and growing cities.
Engineers built aqueducts, tunnels and long flights of locks to carry the waterways across
hills and valleys. When the railways came, many canals fell into disuse, but some are now
popular with walkers and holiday boats.
""",
    "travel": """
Travelling by overnight train is a slow but rewarding way to cross a large country. You board
in the evening, watch the suburbs give way to farmland, and fall asleep to the steady rhythm of
the wheels. Sleeper compartments range from simple couchettes with six bunks to private cabins
with a small washbasin. Bring water, a light snack and earplugs, since station stops can be
noisy in the middle of the night. Waking up in a new region without losing a day to airports
is the main attraction.

Hiking in the mountains in early autumn offers clear air, cooler temperatures and fewer
crowds. Weather can still change quickly, so walkers should carry a waterproof jacket, an
extra warm layer and a paper map as well as a phone. Start early, because daylight shortens
noticeably after the equinox. Many mountain huts close at the end of September, so check
opening dates before planning a route of several days. Respect local rules on camping and
fires, and leave gates the way you found them.

A market visit is often the quickest way to understand a new city. Stalls show what grows
nearby, which spices people prefer, and how families shop for the week. Arrive in the morning
when the produce is freshest and the vendors have time to talk. Carry small notes or coins, and
ask before taking photographs of people. Even a short conversation about how to cook an
unfamiliar vegetable can become the most memorable part of a trip.
""",
    "sports": """
Marathon runners rarely hit the wall by accident; it usually follows a pacing mistake in the
first half. The body stores a limited amount of glycogen in the muscles and liver, enough for
roughly thirty kilometres at race pace. Runners who start too fast burn through this reserve
early and are forced to slow sharply near the end. Long training runs at a steady pace teach
the body to use more fat as fuel. Carbohydrate drinks or gels taken during the race also delay
the moment when energy runs low.

In football, the offside rule stops attackers from simply waiting beside the opposing goal. A
player is offside if, when the ball is played to them, they are nearer to the goal line than
both the ball and the second-last defender. Being level with that defender is allowed. The
rule only applies in the attacking half, and there is no offence directly from a throw-in,
goal kick or corner. Video review has made decisions more precise, although fans still argue
about margins of a few millimetres.

Table tennis rewards quick reactions, but spin is what separates club players from beginners.
Brushing the ball upward with a closed racket creates topspin, which makes the ball dip onto
the table and kick forward after the bounce. Chopping underneath produces backspin that can
pull a weak return into the net. Good players read spin from the opponent's racket angle and
arm movement before the ball even crosses the net. Regular practice with a partner or a
machine helps build that instinct.
""",
    "technology": """
A compiler translates source code into instructions a processor can run, but it does much more
than a word-for-word translation. It first checks that the program follows the rules of the
language, then builds an internal representation that is easier to analyse. Optimisation
passes remove repeated calculations, inline small functions and keep frequently used values in
registers. The final stage chooses machine instructions for the target processor. Because of
this work, a clear and simple program often runs as fast as a hand-tuned one.

Public key cryptography lets two people who have never met agree on a secret over an open
network. Each party has a private key that never leaves their device and a public key that can
be shared with anyone. A message encrypted with the public key can only be read with the
matching private key. The same idea, run in reverse, produces digital signatures that prove
who sent a message. Modern websites rely on these techniques every time a browser shows a
padlock next to the address.

Solid-state drives store data in flash memory cells rather than on spinning magnetic platters.
Because there are no moving parts, they read and write small files much faster than
traditional hard disks. Each cell can only be erased a limited number of times, so the drive's
controller spreads writes evenly across the chip, a technique called wear levelling. Spare
capacity hidden from the operating system replaces cells that fail. For most users, a modern
drive will outlast the computer it is installed in.
""",
}

ZH_TEXT = {
    "science": """
月亮的潮汐作用每天都在影响着地球。月球的引力拉动海水，使面向月球和背向月球的
两侧海面隆起，形成一天两次的涨潮和落潮。太阳也会产生类似的作用，只是强度大约
只有月球的一半。当太阳、月球和地球几乎排成一条直线时，两种力量叠加，就会出现
幅度特别大的大潮。长期来看，潮汐摩擦还在一点点减慢地球的自转，让一天变得越来
越长。

光合作用是地球上几乎所有生命的能量来源。植物叶片中的叶绿素吸收阳光，把二氧化
碳和水转化为葡萄糖，同时释放出氧气。这个过程分为光反应和暗反应两个阶段，前者
在类囊体膜上进行，后者在叶绿体基质中完成。科学家一直在研究如何提高作物的光合
效率，希望在有限的耕地上收获更多粮食。一些实验室甚至尝试用人工材料模仿这一过
程，直接利用太阳能制造燃料。

地震发生时，能量以地震波的形式向四周传播。纵波速度快，最先到达，使地面上下颠
动。横波速度较慢，随后到达，使地面左右摇晃，破坏力更大。地震预警系统正是利用
两种波的时间差，在强烈震动到来之前几秒到几十秒发出警报。这短短的时间足以让人
们躲到安全的地方，让列车减速，让工厂关闭危险的设备。
""",
    "cooking": """
包饺子是很多北方家庭过年时必不可少的活动。和面时要用温水，面团揉到表面光滑后
盖上湿布静置半个小时。馅料可以用猪肉白菜、韭菜鸡蛋或者三鲜，关键是要顺着一个
方向搅拌，让肉馅上劲。擀皮的时候中间稍厚、边缘稍薄，这样包好的饺子煮的时候不
容易破。水开后下锅，点三次凉水，饺子浮起来就可以出锅了。

红烧肉看起来复杂，其实掌握几个步骤就能做好。先把五花肉切成大小均匀的方块，冷
水下锅煮去血沫。锅里放少量油和冰糖，小火慢慢炒出红亮的糖色，再把肉块倒进去翻
炒上色。加入姜片、葱段、八角和料酒，倒入没过肉的热水，盖上锅盖小火炖一个小时
左右。最后开大火收汁，让浓稠的酱汁均匀地包裹在每一块肉上。

番茄炒蛋是许多人学会的第一道家常菜。鸡蛋打散后加少许盐，用热油快速炒到刚刚凝
固就盛出备用。番茄切块后下锅翻炒，炒出汤汁后再加入一点糖，可以中和酸味。最后
把鸡蛋倒回锅里，和番茄一起翻炒均匀，撒上葱花即可出锅。这道菜做法简单，却很考
验对火候的把握。
""",
    "history": """
造纸术是中国古代的重要发明之一。东汉时期，蔡伦总结前人的经验，用树皮、麻头、
破布和旧渔网作原料，制造出价格低廉、便于书写的纸张。纸的普及让书籍的制作成本
大大降低，知识的传播也随之加快。唐代以后，造纸技术经过中亚传入阿拉伯世界，又
在几百年后传到欧洲。今天我们每天使用的纸张，仍然沿用着类似的基本原理。

大运河始建于春秋时期，隋朝时被大规模连接贯通，成为沟通南北的交通大动脉。江南
的粮食、丝绸和茶叶通过运河源源不断地运往北方的都城。沿岸因此兴起了扬州、苏州、
杭州等繁华的商业城市。元代以后，运河经过裁弯取直，从杭州一直通到北京。如今大
运河已被列入世界文化遗产，部分河段仍在承担航运任务。

长城并不是一次建成的，而是历经两千多年不断修筑的结果。战国时期，各国就在边境
修建了城墙，秦始皇统一六国后把它们连接起来。今天人们看到的砖石长城，大多是明
代重修的。长城沿线设有关口、烽火台和驻兵的城堡，一旦发现敌情，烽火可以在很短
的时间内把消息传到远方。如今长城已经成为中国最著名的旅游景点之一。
""",
    "travel": """
秋天是去云南旅行的好季节。昆明四季如春，适合作为行程的起点，从这里可以乘坐动
车前往大理和丽江。大理古城的清晨格外安静，沿着洱海骑行，可以看到远处的苍山和
湖面上的渔船。丽江的纳西族文化很有特色，晚上在古城的小巷里散步，能听到传统的
音乐。如果时间充裕，还可以继续北上，去香格里拉感受高原的风光。

第一次坐高铁出行时，提前做好准备能省去不少麻烦。购票可以通过官方网站或手机应
用完成，乘车时只需刷身份证即可进站。建议至少提前半小时到达车站，因为安检和候
车的人可能比较多。车厢里有饮水机提供热水，也可以在餐车购买简餐。长途旅行时带
上一本书或者下载好电影，几个小时的时间很快就会过去。

杭州西湖一年四季各有不同的风景。春天沿着苏堤散步，桃红柳绿，景色宜人。夏天可
以在湖边欣赏满湖的荷花。秋天的夜晚适合登上宝石山，俯瞰灯火映照下的湖面。冬天
如果赶上下雪，断桥上的雪景更是难得一见。游览西湖最好的方式是步行或者骑自行车，
沿途还可以品尝当地的龙井茶。
""",
    "sports": """
乒乓球在中国有着广泛的群众基础，公园和小区里常常能看到打球的人。初学者首先要
学会正确的握拍方法，常见的有直拍和横拍两种。练习时要注意步法，脚步移动到位，
击球才能稳定。发球是比赛中唯一完全由自己掌控的环节，多练习几种不同旋转的发球，
可以在比赛中占据主动。坚持每周打两三次球，不仅能提高技术，还能锻炼反应能力和
身体协调性。

马拉松比赛越来越受欢迎，许多城市每年都会举办全程和半程比赛。没有长跑经验的人
不宜直接报名全程，最好先从五公里和十公里跑起。训练计划应当循序渐进，每周的跑
量增加不要超过百分之十。比赛前一周要减少训练量，保证充足的睡眠，多吃一些富含
碳水化合物的食物。比赛当天起跑不要太快，按照自己的配速稳稳地跑完全程。

羽毛球是一项老少皆宜的运动，对场地的要求也不高。打球前一定要充分热身，活动好
手腕、膝盖和脚踝，以免受伤。击球时要用手腕发力，而不是只靠手臂挥动。双打比赛
讲究配合，前场队员负责封网，后场队员负责进攻。经常打羽毛球可以提高心肺功能，
还能让人反应更加敏捷。
""",
    "technology": """
智能手机的电池大多采用锂离子技术。充电时，锂离子从正极移动到负极并储存起来，
放电时再回到正极，从而产生电流。电池的容量会随着充放电次数的增加而逐渐下降，
高温环境会加快这一过程。为了延长电池寿命，尽量避免在阳光直射下充电，也不要经
常把电量用到完全耗尽。许多手机系统还提供了优化充电功能，会根据使用习惯调整充
电速度。

机器翻译在过去十年里取得了很大进步。早期的系统依靠人工编写的语法规则，后来发
展为基于统计的方法，从大量双语文本中学习词语的对应关系。近年来，神经网络模型
能够把整句话作为一个整体来理解，翻译结果更加通顺自然。不过，遇到专业术语、成
语或者带有文化背景的表达时，机器翻译仍然容易出错。因此，重要的文件最好还是请
专业译者进行审校。

云计算让企业不必自己购买和维护大量服务器。用户可以按需租用计算能力和存储空间，
用多少付多少。对于访问量波动很大的网站来说，这种弹性尤其重要，促销活动期间可
以临时增加资源，活动结束后再释放。当然，把数据放在云端也带来了安全和隐私方面
的问题，企业需要仔细设置访问权限，并对敏感信息进行加密。
""",
}

TOPICS = tuple(EN_TEXT)

SUBJECTS = {
    "en": {
        "science": ("starlight and distance", "cell biology", "the physics of water"),
        "cooking": ("bread baking", "quick weeknight cooking", "homemade stock"),
        "history": ("early printing", "old trade routes", "the canal age"),
        "travel": ("slow travel", "autumn hiking", "city markets"),
        "sports": ("distance running", "the rules of football", "table tennis"),
        "technology": ("how compilers work", "everyday cryptography", "storage hardware"),
    },
    "zh": {
        "science": ("潮汐", "光合作用", "地震波"),
        "cooking": ("饺子", "红烧肉", "家常菜"),
        "history": ("造纸术", "大运河", "古代交通"),
        "travel": ("云南", "高铁出行", "自助旅行"),
        "sports": ("乒乓球", "马拉松", "业余训练"),
        "technology": ("手机电池", "机器翻译", "云计算"),
    },
}
NAMES = {
    "en": (
        "Maya Lindqvist",
        "Tom Okafor",
        "Priya Raman",
        "Jonas Weber",
        "Elena Rossi",
        "Sam Whitaker",
        "Aiko Tanaka",
        "Luis Moreno",
        "Grace Mbeki",
        "Owen Fletcher",
    ),
    "zh": ("李晓梅", "王建国", "陈思远", "张雨桐", "刘海波", "赵敏", "周子涵", "孙立新"),
}
PLACES = {
    "en": ("Leeds", "Porto", "Halifax", "Dunedin", "Bergen", "Tucson", "Adelaide", "Galway"),
    "zh": ("成都", "青岛", "西安", "厦门", "长沙", "苏州", "昆明", "大连"),
}
MONTHS = {
    "en": ("January", "March", "April", "June", "August", "October", "November"),
    "zh": ("一月", "三月", "四月", "六月", "八月", "十月", "十一月"),
}
INTROS = {
    "en": (
        "{name} put these notes together in {place} during {month}, after readers kept asking "
        "about {subject}.",
        "This piece by {name} began as a talk given at a community evening in {place} in {month}.",
        "Our correspondent {name} spent part of {month} in {place} collecting questions about "
        "{subject}.",
        "When {name} moved to {place} last {month}, a neighbour's question about {subject} "
        "started this article.",
    ),
    "zh": (
        "{name}在{place}生活多年，{month}整理了这篇关于{subject}的文章。",
        "本文作者{name}，{month}在{place}的一次讲座上谈到了{subject}。",
        "{month}的一个周末，{name}在{place}和朋友聊起{subject}，于是写下了这些内容。",
        "不少读者来信询问{subject}，{name}在{place}走访了几位行家后写成此文。",
    ),
}
CLOSINGS = {
    "en": (
        "Questions about {subject} can be sent to the editors, who answer a selection every month.",
        "Next time {name} returns with a follow-up on {subject} and replies to reader letters.",
        "If you have tried this yourself in {place} or elsewhere, the comments are open below.",
    ),
    "zh": (
        "关于{subject}的更多问题，欢迎在文章下方留言，编辑每月会挑选部分问题回复。",
        "下一期，{name}还会继续介绍{subject}的相关知识，敬请关注。",
        "如果你在{place}或其他地方也有类似的经历，欢迎和我们分享。",
    ),
}
TIPS = {
    "en": (
        "{name} suggests setting aside about {minutes} minutes in the {part} to read more "
        "about {subject}.",
        "A reader from {place} wrote in to say that {minutes} minutes of practice each {part} "
        "made the biggest difference.",
        "In {place}, a local club meets every {part} for about {minutes} minutes to discuss "
        "{subject}.",
    ),
    "zh": (
        "{name}建议每天{part}抽出{minutes}分钟左右，多了解一些{subject}的知识。",
        "一位来自{place}的读者说，坚持每天{part}练习{minutes}分钟，效果最明显。",
        "在{place}，有一个兴趣小组每周{part}聚会{minutes}分钟，专门讨论{subject}。",
    ),
}
DAY_PARTS = {
    "en": ("morning", "afternoon", "evening"),
    "zh": ("早上", "中午", "傍晚", "晚上"),
}
TITLES = {
    "en": (
        "A beginner's guide to {subject}",
        "What {place} taught me about {subject}",
        "Notes on {subject}",
        "{Subject}, explained without jargon",
        "Five things I learned about {subject}",
    ),
    "zh": (
        "关于{subject}的几点笔记",
        "{subject}入门指南",
        "在{place}聊{subject}",
        "你不知道的{subject}",
        "{subject}的那些事",
    ),
}
WORD_SWAPS = {
    "en": (
        ("very ", "really "),
        ("often ", "frequently "),
        ("small ", "little "),
        ("usually ", "normally "),
        ("simple ", "basic "),
        ("many ", "numerous "),
    ),
    "zh": (
        ("可以", "能够"),
        ("非常", "十分"),
        ("因此", "所以"),
        ("不少", "很多"),
        ("一些", "部分"),
        ("尽量", "最好"),
    ),
}
UPDATE_NOTES = {
    "en": (
        "Updated: this article was revised on 21 May to correct a typo.",
        "Editor's note: a photo caption was corrected after publication.",
    ),
    "zh": ("（本文于5月21日更新，修正了个别错字。）", "（编者注：文章发布后更正了一处图片说明。）"),
}

# A site footer and cookie notice (60+ words each) repeated verbatim on every page of one site.
HARBOR_FOOTER = (
    "The Harbor Ledger is an independent community newspaper published by the Harbor Ledger "
    "Media Cooperative. All articles remain the copyright of their authors and may not be "
    "reproduced without written permission. To report an error, write to the corrections desk. "
    "Advertising enquiries, subscription changes and delivery problems are handled by our "
    "reader services team from Monday to Friday between nine and five. Registered office: "
    "14 Quay Street, Port Alder."
)
HARBOR_COOKIES = (
    "We use cookies and similar technologies to keep this site working, to remember your "
    "preferences, to measure how our pages are used and to show you relevant content. Some "
    "cookies are set by trusted partners. You can accept all cookies, reject the optional ones, "
    "or change your choice at any time from the privacy link at the bottom of every page. Read "
    "our cookie policy to learn more about how we handle your data."
)
QINGSHAN_FOOTER = (
    "版权声明：本网站所有文章、图片及音视频内容，版权均属青山日报社所有，未经书面授权，"
    "任何单位和个人不得转载、摘编或以其他方式使用。已经授权使用的，应在授权范围内使用，"
    "并注明来源。本站部分内容来自网络，如有侵权，请联系我们及时删除。"
    "违法和不良信息举报电话：010-00000000（示例号码），举报邮箱：report@qingshan.example.com。"
)

NAV_EN = (
    "Home",
    "News",
    "Local",
    "World",
    "Business",
    "Markets",
    "Technology",
    "Science",
    "Health",
    "Sport",
    "Football",
    "Cricket",
    "Tennis",
    "Culture",
    "Books",
    "Film",
    "Music",
    "Travel",
    "Food",
    "Property",
    "Cars",
    "Jobs",
    "Classifieds",
    "Weather",
    "Obituaries",
    "Puzzles",
    "Podcasts",
    "Video",
    "Newsletters",
    "Events",
    "Contact",
    "About us",
    "Careers",
    "Advertise",
    "Help",
    "Sitemap",
)
NAV_ZH = (
    "首页",
    "新闻",
    "国内",
    "国际",
    "财经",
    "股票",
    "科技",
    "数码",
    "体育",
    "足球",
    "篮球",
    "娱乐",
    "电影",
    "音乐",
    "读书",
    "教育",
    "健康",
    "旅游",
    "美食",
    "房产",
    "汽车",
    "招聘",
    "天气",
    "视频",
    "图片",
    "专题",
    "论坛",
    "博客",
    "关于我们",
    "联系我们",
    "广告服务",
    "网站地图",
)
TAGS_EN = (
    "budget",
    "family",
    "weekend",
    "recipes",
    "gadgets",
    "running",
    "history",
    "museums",
    "space",
    "trains",
    "hiking",
    "markets",
    "baking",
    "security",
    "reviews",
    "opinion",
    "podcast",
    "interview",
    "explainer",
    "photos",
)

PRODUCTS_EN = (
    "Wireless Earbuds Pro",
    "Stainless Steel Water Bottle 750ml",
    "Ergonomic Office Chair",
    "4K Action Camera",
    "Memory Foam Pillow",
    "Smart Fitness Watch",
    "LED Desk Lamp",
    "Non-Stick Frying Pan Set",
    "Portable Charger 20000mAh",
    "Ultra Light Running Shoes",
    "Mini Bluetooth Speaker",
    "Electric Toothbrush",
    "Robot Vacuum Cleaner",
    "Noise Cancelling Headphones",
    "Air Fryer 5L",
    "Yoga Mat Extra Thick",
)
PRODUCTS_ZH = (
    "夏季新款连衣裙",
    "无线蓝牙耳机",
    "不锈钢保温杯",
    "儿童益智积木",
    "家用空气炸锅",
    "纯棉四件套",
    "轻便运动跑鞋",
    "大容量充电宝",
    "智能手环",
    "电动牙刷",
    "加厚瑜伽垫",
    "扫地机器人",
)
AD_LINES_EN = (
    "Free shipping on orders over $25.",
    "Limited stock - order today!",
    "Add to cart and save an extra 10% at checkout.",
    "Deal ends tonight at midnight.",
    "Buy 2, get 1 free on selected items.",
    "Best price guaranteed or we refund the difference.",
    "Join our rewards club for exclusive discount codes.",
)
SPAM_EN = (
    "BUY NOW and save 80% TODAY ONLY!!!",
    "CLICK HERE for the lowest price online!!!",
    "Limited time offer - only 3 left in stock!",
    "100% guaranteed results or your money back!!!",
    "Order now, free worldwide shipping, no questions asked!",
    "Act fast!!! This amazing deal expires at midnight!",
    "Cheap designer watches, replica bags and discount pills - BUY NOW!",
    "Call now, our operators are standing by!!!",
    "Lose 10 kg in 7 days, doctors hate this one trick!",
    "Make $500 a day from home, CLICK HERE to start!!!",
)
SEO_KEYWORDS = (
    "cheap hotels paris",
    "best cheap hotels paris",
    "paris hotel deals",
    "cheap paris hotel booking",
    "hotels near eiffel tower cheap",
    "last minute paris hotels",
    "paris hotels cheap best price",
)
GAMBLING_ZH = (
    "鸿运娱乐城官方网站，注册即送188元彩金！",
    "百家乐、老虎机、真人视讯、体育投注，一站式在线娱乐平台。",
    "24小时存取款，提款三分钟到账，安全可靠。",
    "新用户首存送100%，每日返水无上限。",
    "加微信客服领取内部计划，稳赚不赔，日赚千元不是梦！",
    "手机投注、时时彩、最新开奖结果，尽在本站。",
    "信誉第一，大额无忧，欢迎各路玩家加入！",
    "娱乐城 娱乐城官网 娱乐城注册 百家乐 百家乐技巧 老虎机 在线赌场 彩票平台",
)
AD_LINES_ZH = (
    "全场包邮，满199减50！",
    "限时秒杀，手慢无！",
    "今日特价，仅剩最后100件！",
    "好评返现5元，收藏店铺优先发货。",
    "正品保证，七天无理由退换。",
)
LOW_QUALITY = (
    (
        "Loading",
        (
            "Please enable JavaScript to view this page.",
            "This site requires JavaScript. Please enable it in your browser settings and reload.",
        ),
    ),
    (
        "Lorem ipsum",
        (
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
            "eiusmod tempor incididunt ut labore et dolore magna aliqua.",
            "Lorem ipsum dolor sit amet.",
            "Placeholder text {{ page.body }}",
        ),
    ),
    (
        "Coming soon",
        ("Coming soon...", "This page is under construction...", "Check back later..."),
    ),
    (
        "WELCOME!!!",
        (
            "WELCOME TO MY HOMEPAGE!!!",
            "BEST SITE ON THE WEB!!!",
            "SIGN MY GUESTBOOK!!!",
            "YOU ARE VISITOR NUMBER 000123!!!",
            "### *** ### *** ### *** ###",
        ),
    ),
)


def _paragraphs(block: str, joiner: str) -> tuple[str, ...]:
    chunks = block.strip().split("\n\n")
    return tuple(joiner.join(line.strip() for line in c.splitlines()) for c in chunks)


def _sentences(paragraph: str, lang: str) -> list[str]:
    if lang == "zh":
        return re.findall(r"[^。！？]+[。！？]", paragraph)
    return re.split(r"(?<=[.!?])\s+", paragraph)


PARAGRAPHS = {
    "en": {t: _paragraphs(b, " ") for t, b in EN_TEXT.items()},
    "zh": {t: _paragraphs(b, "") for t, b in ZH_TEXT.items()},
}
SENTENCES = {
    lang: {t: [s for p in paras for s in _sentences(p, lang)] for t, paras in topics.items()}
    for lang, topics in PARAGRAPHS.items()
}

# ---------------------------------------------------------------------------------------------
# Documents and sites
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    kind: str
    lang: str
    title: str
    paragraphs: tuple[str, ...]
    topic: str = ""
    links: tuple[str, ...] = ()
    dup_of: str | None = None

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.paragraphs, *self.links))


@dataclass(frozen=True)
class Site:
    domain: str
    name: str
    lang: str
    nav: tuple[str, ...]
    boilerplate: tuple[str, ...] = ()


SITES = {
    "harbor": Site(
        "www.harborledger.example.com",
        "The Harbor Ledger",
        "en",
        NAV_EN[:12],
        (HARBOR_COOKIES, HARBOR_FOOTER),
    ),
    "field": Site("fieldnotes.example.org", "Field Notes", "en", ("Home", "Archive", "About")),
    "kitchen": Site(
        "kitchen-table.example.net",
        "Kitchen Table",
        "en",
        ("Recipes", "Techniques", "Shop", "About"),
    ),
    "qingshan": Site("www.qingshan.example.com", "青山日报", "zh", NAV_ZH[:10], (QINGSHAN_FOOTER,)),
    "xiaolu": Site("blog.xiaolu.example.net", "小路笔记", "zh", ("首页", "归档", "关于")),
    "laozhan": Site("www.laozhan.example.com", "老站论坛", "zh", ("首页", "论坛", "搜索")),
    "mirror": Site("mirror.example.org", "Content Mirror", "en", ("Home",)),
    "shop": Site(
        "shop.megadeals.example.com",
        "MegaDeals Outlet",
        "en",
        ("Deals", "Electronics", "Home", "Kitchen", "Sports", "Cart"),
    ),
    "spam": Site("best-offers.example.net", "BEST OFFERS", "en", ("BUY", "NOW")),
    "seo": Site("paris-hotels-cheap.example.org", "Cheap Hotels Paris", "en", ("Hotels",)),
    "yule": Site("www.hongyun-yule.example.com", "鸿运娱乐", "zh", ("首页", "注册", "优惠")),
    "mall": Site("mall.haohuo.example.com", "好货商城", "zh", ("首页", "分类", "购物车")),
    "portal": Site("portal.citydirectory.example.com", "City Directory", "en", NAV_EN),
    "menhu": Site("www.menhu.example.com", "门户网", "zh", NAV_ZH),
}


class Corpus:
    """Composes documents from the text pools with one seeded RNG."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def _slots(self, lang: str, topic: str) -> dict[str, str]:
        subject = self.rng.choice(SUBJECTS[lang][topic])
        return {
            "minutes": str(self.rng.randrange(10, 95, 5)),
            "part": self.rng.choice(DAY_PARTS[lang]),
            "name": self.rng.choice(NAMES[lang]),
            "place": self.rng.choice(PLACES[lang]),
            "month": self.rng.choice(MONTHS[lang]),
            "subject": subject,
            "Subject": subject[:1].upper() + subject[1:],
        }

    def article(self, lang: str, topic: str | None = None) -> Doc:
        topic = topic or self.rng.choice(TOPICS)
        slots = self._slots(lang, topic)
        body = self.rng.sample(SENTENCES[lang][topic], self.rng.randint(5, 8))
        intro = self.rng.choice(INTROS[lang]).format(**slots)
        tip = self.rng.choice(TIPS[lang]).format(**slots)
        closing = self.rng.choice(CLOSINGS[lang]).format(**slots)
        body.insert(self.rng.randint(1, len(body) - 1), tip)
        sentences = [intro, *body, closing]
        joiner = "" if lang == "zh" else " "
        paras = tuple(joiner.join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
        title = self.rng.choice(TITLES[lang]).format(**slots)
        return Doc("article", lang, title, paras, topic)

    def near_dup(self, doc: Doc, ref: str) -> Doc:
        """Same article with a word swapped and a note added or the last sentence cut."""
        paras = list(doc.paragraphs)
        index = self.rng.randrange(len(paras))
        for old, new in WORD_SWAPS[doc.lang]:
            if old in paras[index]:
                paras[index] = paras[index].replace(old, new, 1)
                break
        if self.rng.random() < 0.5:
            paras.append(self.rng.choice(UPDATE_NOTES[doc.lang]))
        else:
            last = _sentences(paras[-1], doc.lang)
            paras[-1] = ("" if doc.lang == "zh" else " ").join(last[:-1] or last)
        return replace(doc, kind="near_dup", paragraphs=tuple(paras), dup_of=ref)

    def listing(self, lang: str) -> Doc:
        names = PRODUCTS_ZH if lang == "zh" else PRODUCTS_EN
        items = [self._price_line(lang, name) for name in self.rng.sample(names, 8)]
        lines = AD_LINES_ZH if lang == "zh" else AD_LINES_EN
        extra = tuple(self.rng.sample(lines, 3))
        title = "爆款特价 限时抢购" if lang == "zh" else "Deals of the Day - up to 70% off"
        return Doc("ad_listing", lang, title, (*extra[:1], *items, *extra[1:]), "shopping")

    def _price_line(self, lang: str, name: str) -> str:
        price = self.rng.randint(5, 300) + 0.99
        was = round(price * self.rng.choice((1.5, 2, 3)), 2)
        if lang == "zh":
            sold = self.rng.randint(100, 99999)
            return f"{name} 原价￥{was:.0f} 现价￥{price:.0f} 包邮 已售{sold}件 立即购买"
        stars = self.rng.choice(("4.1", "4.5", "4.7", "4.9"))
        return f"{name} - ${price:.2f} (was ${was:.2f}) - {stars} stars - Buy now"

    def buy_now(self) -> Doc:
        lines = [self.rng.choice(SPAM_EN) for _ in range(self.rng.randint(10, 16))]
        return Doc("ad_spam", "en", "!!! AMAZING DEALS - BUY NOW !!!", tuple(lines), "shopping")

    def seo(self) -> Doc:
        paras = []
        for _ in range(4):
            words = [self.rng.choice(SEO_KEYWORDS) for _ in range(self.rng.randint(12, 18))]
            paras.append(" ".join(words) + ".")
        title = "Cheap Hotels Paris | Best Cheap Hotels Paris | Paris Hotel Deals"
        return Doc("seo_spam", "en", title, tuple(paras), "shopping")

    def gambling(self) -> Doc:
        lines = [self.rng.choice(GAMBLING_ZH) for _ in range(self.rng.randint(8, 12))]
        title = "鸿运娱乐城-注册送彩金-百家乐官网"
        return Doc("gambling_spam", "zh", title, tuple(lines), "gambling")

    def navigation(self, lang: str, headlines: Sequence[str]) -> Doc:
        nav = NAV_ZH if lang == "zh" else NAV_EN
        heads = self.rng.sample(list(headlines), min(10, len(headlines)))
        pages = [str(n) for n in range(1, 21)]
        tags = [] if lang == "zh" else self.rng.sample(TAGS_EN, 15)
        line = "共938条结果，第3页" if lang == "zh" else "Showing results 41 to 60 of 938."
        title = "网站导航" if lang == "zh" else "Directory - page 3"
        return Doc(
            "navigation", lang, title, (line,), "navigation", links=(*nav, *heads, *tags, *pages)
        )

    def low_quality(self, variant: int) -> Doc:
        title, lines = LOW_QUALITY[variant % len(LOW_QUALITY)]
        return Doc("low_quality", "en", title, lines, "low_quality")


# ---------------------------------------------------------------------------------------------
# Byte-level writers: gzip members, WARC records, HTTP messages, tiny PNG/PDF
# ---------------------------------------------------------------------------------------------

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0, OS unknown


def gzip_member(chunks: Iterable[bytes], level: int = 9) -> bytes:
    """One gzip member with a fixed header (no file name, mtime 0)."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    crc, size, parts = 0, 0, [GZIP_HEADER]
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    parts.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(parts)


def gzip_bytes(data: bytes) -> bytes:
    return gzip_member([data])


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def warc_date(index: int) -> datetime:
    return BASE_DATE + timedelta(seconds=17 * index)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def ip_for(url: str) -> str:
    return f"192.0.2.{zlib.crc32(url.encode()) % 250 + 1}"


def warc_head(pairs: Sequence[tuple[str, str]]) -> bytes:
    lines = ["WARC/1.1", *(f"{k}: {v}" for k, v in pairs)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class WarcWriter:
    """Builds a WARC file where every record is its own gzip member."""

    def __init__(self, filename: str, seed: int) -> None:
        self.filename = filename
        self.rng = random.Random(seed)
        self.members: list[bytes] = []
        self.counts: Counter[str] = Counter()
        self.warcinfo_id = ""

    def new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"

    def add(
        self,
        warc_type: str,
        payload: bytes,
        content_type: str,
        *,
        uri: str | None = None,
        extra: Sequence[tuple[str, str]] = (),
        record_id: str | None = None,
    ) -> str:
        record_id = record_id or self.new_id()
        pairs = [
            ("WARC-Type", warc_type),
            ("WARC-Record-ID", record_id),
            ("WARC-Date", iso(warc_date(len(self.members)))),
        ]
        if uri is not None:
            pairs.append(("WARC-Target-URI", uri))
        pairs += [
            *extra,
            ("WARC-Block-Digest", sha1_b32(payload)),
            ("Content-Type", content_type),
            ("Content-Length", str(len(payload))),
        ]
        self.add_raw(warc_head(pairs) + payload + b"\r\n\r\n", warc_type)
        return record_id

    def add_raw(self, record: bytes, warc_type: str) -> None:
        self.members.append(gzip_bytes(record))
        self.counts[warc_type] += 1

    def warcinfo(self, description: str) -> str:
        fields = {
            "software": "datapipe-fixture-generator/1.0",
            "format": "WARC File Format 1.1",
            "isPartOf": f"{CRAWL} (synthetic fixture)",
            "description": description,
            "operator": "datapipe tests",
        }
        payload = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode()
        extra = [("WARC-Filename", self.filename)]
        self.warcinfo_id = self.add("warcinfo", payload, "application/warc-fields", extra=extra)
        return self.warcinfo_id

    def capture(self, url: str, http: bytes) -> str:
        """A request record followed by its response; returns the response id."""
        req_id = self.new_id()
        resp_id = self.new_id()
        common = [("WARC-Warcinfo-ID", self.warcinfo_id), ("WARC-IP-Address", ip_for(url))]
        self.add(
            "request",
            http_request(url),
            "application/http; msgtype=request",
            uri=url,
            extra=[*common, ("WARC-Concurrent-To", resp_id)],
            record_id=req_id,
        )
        self.add(
            "response",
            http,
            "application/http; msgtype=response",
            uri=url,
            extra=[*common, ("WARC-Concurrent-To", req_id)],
            record_id=resp_id,
        )
        return resp_id

    def metadata(self, url: str, refers_to: str, lang: str) -> str:
        fields = f"fetchTimeMs: 412\r\ncharset-detected: UTF-8\r\nlanguages-cld2: {lang}\r\n"
        payload = fields.encode()
        extra = [("WARC-Warcinfo-ID", self.warcinfo_id), ("WARC-Refers-To", refers_to)]
        return self.add("metadata", payload, "application/warc-fields", uri=url, extra=extra)

    def getvalue(self) -> bytes:
        return b"".join(self.members)

    @property
    def documents(self) -> int:
        return sum(self.counts[t] for t in DOCUMENT_RECORD_TYPES)


def http_request(url: str) -> bytes:
    host, _, path = url.removeprefix("https://").removeprefix("http://").partition("/")
    lines = [
        f"GET /{path} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: datapipe-fixture-bot/1.0 (+https://example.com/bot)",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language: en-US,en;q=0.5",
        "Accept-Encoding: br,gzip",
        "Connection: Keep-Alive",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_message(
    status: str, headers: Sequence[tuple[str, str]], body: bytes, *, length: bool = True
) -> bytes:
    pairs = [
        ("Date", format_datetime(BASE_DATE, usegmt=True)),
        ("Server", "nginx/1.24.0"),
        *headers,
    ]
    if length:
        pairs.append(("Content-Length", str(len(body))))
    head = "\r\n".join([f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in pairs)])
    return head.encode("latin-1") + b"\r\n\r\n" + body


def http_ok(body: bytes, content_type: str, *extra: tuple[str, str]) -> bytes:
    return http_message(
        "200 OK", [("Content-Type", content_type), *extra, ("Connection", "close")], body
    )


def chunked(body: bytes, size: int = 700) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def png_bytes(width: int = 16, height: int = 16) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 16, y * 16, 128))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def pdf_bytes(text: str) -> bytes:
    stream = f"BT /F1 14 Tf 20 100 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# HTML rendering
# ---------------------------------------------------------------------------------------------


def _slug(text: str, fallback: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words[:8]) or fallback


def _links(items: Iterable[str], prefix: str = "/") -> str:
    return "".join(
        f'<li><a href="{prefix}{_slug(x, f"s{i}")}/">{html.escape(x)}</a></li>'
        for i, x in enumerate(items)
    )


def render_html(doc: Doc, site: Site, charset: str = "utf-8", meta: str = "charset") -> str:
    if meta == "http-equiv":
        meta_tag = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
    else:
        meta_tag = f'<meta charset="{charset}">'
    paras = "\n".join(f"<p>{html.escape(p)}</p>" for p in doc.paragraphs)
    extra = f'<ul class="links">{_links(doc.links)}</ul>' if doc.links else ""
    boiler = "\n".join(
        f'<div class="site-notice"><p>{html.escape(b)}</p></div>' for b in site.boilerplate
    )
    return f"""<!DOCTYPE html>
<html lang="{doc.lang}">
<head>
{meta_tag}
<title>{html.escape(doc.title)} | {html.escape(site.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css">
<style>body{{font-family:sans-serif;max-width:48em;margin:auto}}.links li{{display:inline}}</style>
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "article"}});</script>
</head>
<body>
<header><a class="logo" href="/">{html.escape(site.name)}</a>
<nav><ul>{_links(site.nav)}</ul></nav></header>
<main><article>
<h1>{html.escape(doc.title)}</h1>
{paras}
{extra}
</article></main>
<footer>
{boiler}
</footer>
</body>
</html>
"""


EMPTY_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title></title>
<style>html,body{margin:0;height:100%}#app{display:flex}</style>
<script>window.__INITIAL_STATE__ = {"route": "/app", "user": null};</script>
</head>
<body><div id="app"></div>
<script src="/static/bundle.4f2a.js"></script>
<script>document.getElementById("app").dataset.ready = "1";</script>
</body>
</html>
"""

# ---------------------------------------------------------------------------------------------
# Fixture assembly
# ---------------------------------------------------------------------------------------------


@dataclass
class Fixture:
    path: str
    data: bytes
    format: str
    documents: int
    text_documents: int
    note: str
    records: dict[str, int] = field(default_factory=dict)
    labels: list[dict[str, object]] = field(default_factory=list)


@dataclass
class Page:
    url: str
    http: bytes
    doc: Doc
    encoding: str | None = "utf-8"


class UrlMaker:
    def __init__(self) -> None:
        self.serial = 0

    def __call__(self, site: Site, doc: Doc) -> str:
        self.serial += 1
        slug = _slug(doc.title, doc.topic or doc.kind)
        section = doc.topic or doc.kind.replace("_", "-")
        return f"https://{site.domain}/{section}/2024/{self.serial:04d}-{slug}.html"


def html_page(url: str, doc: Doc, site: Site) -> Page:
    body = render_html(doc, site).encode("utf-8")
    charset = "utf-8" if len(url) % 2 else "UTF-8"
    return Page(url, http_ok(body, f"text/html; charset={charset}"), doc)


def article_pages(corpus: Corpus, make_url: UrlMaker) -> list[Page]:
    plan = [
        ("en", "harbor", 16),
        ("en", "field", 18),
        ("en", "kitchen", 12),
        ("zh", "qingshan", 14),
        ("zh", "xiaolu", 16),
    ]
    pages = []
    for lang, site_key, count in plan:
        site = SITES[site_key]
        for i in range(count):
            topic = "cooking" if site_key == "kitchen" and i % 2 else TOPICS[i % len(TOPICS)]
            doc = corpus.article(lang, topic)
            pages.append(html_page(make_url(site, doc), doc, site))
    return pages


def duplicate_pages(corpus: Corpus, make_url: UrlMaker, originals: list[Page]) -> list[Page]:
    """Near-duplicates at other URLs, plus two exact copies with tracking parameters."""
    pages = []
    for lang in ("en", "zh"):
        sources = [p for p in originals if p.doc.lang == lang]
        for page in corpus.rng.sample(sources, 4):
            doc = corpus.near_dup(page.doc, page.url)
            site = SITES["mirror"] if lang == "en" else SITES["xiaolu"]
            pages.append(html_page(make_url(site, doc), doc, site))
    for page in corpus.rng.sample(originals, 2):
        doc = replace(page.doc, kind="exact_dup", dup_of=page.url)
        pages.append(Page(page.url + "?utm_source=newsletter&utm_medium=email", page.http, doc))
    return pages


def spam_pages(corpus: Corpus, make_url: UrlMaker, headlines: list[str]) -> list[Page]:
    docs = [(corpus.listing("en"), "shop") for _ in range(4)]
    docs += [(corpus.listing("zh"), "mall") for _ in range(2)]
    docs += [(corpus.buy_now(), "spam") for _ in range(3)]
    docs += [(corpus.seo(), "seo") for _ in range(3)]
    docs += [(corpus.gambling(), "yule") for _ in range(3)]
    docs += [(corpus.navigation("en", headlines), "portal") for _ in range(3)]
    docs += [(corpus.navigation("zh", headlines), "menhu") for _ in range(2)]
    docs += [(corpus.low_quality(i), "field") for i in range(4)]
    return [html_page(make_url(SITES[key], doc), doc, SITES[key]) for doc, key in docs]


def encoded_pages(corpus: Corpus, make_url: UrlMaker) -> list[Page]:
    """Chinese pages in GBK/GB2312 and an English page in ISO-8859-1."""
    site = SITES["laozhan"]
    specs = [
        ("gbk", "gbk", "http-equiv"),
        ("gb2312", "gb2312", "charset"),
        ("gb2312", None, "charset"),
    ]  # last: charset only in <meta charset>
    pages = []
    for codec, http_charset, meta in specs:
        doc = _encodable_article(corpus, "zh", codec)
        body = render_html(doc, site, codec, meta).encode(codec)
        ctype = f"text/html; charset={http_charset}" if http_charset else "text/html"
        pages.append(Page(make_url(site, doc), http_ok(body, ctype), doc, codec))
    doc = corpus.article("en", "cooking")
    doc = replace(doc, paragraphs=(*doc.paragraphs, "Serve with crème fraîche at the café."))
    body = render_html(doc, SITES["kitchen"], "iso-8859-1").encode("iso-8859-1")
    http = http_ok(body, "text/html; charset=ISO-8859-1")
    pages.append(Page(make_url(SITES["kitchen"], doc), http, doc, "iso-8859-1"))
    return pages


def _encodable_article(corpus: Corpus, lang: str, codec: str) -> Doc:
    for _ in range(100):
        doc = corpus.article(lang)
        try:
            render_html(doc, SITES["laozhan"], codec).encode(codec)
        except UnicodeEncodeError:
            continue
        return doc
    raise RuntimeError(f"no article encodable as {codec}")


def transport_pages(corpus: Corpus, make_url: UrlMaker) -> list[Page]:
    """Chunked and gzip bodies, a redirect, a PNG, a PDF and a page with no visible text."""
    field_site, harbor = SITES["field"], SITES["harbor"]
    doc = corpus.article("en", "technology")
    body = render_html(doc, field_site).encode()
    http = http_message(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked")],
        chunked(body),
        length=False,
    )
    pages = [Page(make_url(field_site, doc), http, doc)]
    doc = corpus.article("zh", "travel")
    body = gzip_bytes(render_html(doc, SITES["qingshan"]).encode())
    http = http_ok(
        body, "text/html; charset=utf-8", ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")
    )
    pages.append(Page(make_url(SITES["qingshan"], doc), http, doc))
    target = f"https://{harbor.domain}/news/2024/moved-page.html"
    redirect = http_message(
        "301 Moved Permanently", [("Location", target), ("Content-Type", "text/html")], b""
    )
    pages.append(Page(f"http://{harbor.domain}/news/old-page", redirect, _stub("redirect")))
    pages.append(
        Page(
            f"https://{harbor.domain}/static/logo.png",
            http_ok(png_bytes(), "image/png"),
            _stub("image"),
        )
    )
    pdf = pdf_bytes("Water expands by about nine percent when it freezes.")
    pages.append(
        Page(
            f"https://{field_site.domain}/files/water-notes.pdf",
            http_ok(pdf, "application/pdf"),
            _stub("pdf"),
        )
    )
    pages.append(
        Page(
            f"https://{field_site.domain}/app/dashboard",
            http_ok(EMPTY_PAGE.encode(), "text/html; charset=utf-8"),
            _stub("empty"),
        )
    )
    return pages


NO_TEXT_KINDS = frozenset({"redirect", "image", "pdf", "empty"})


def _with_text(labels: Sequence[dict[str, object]]) -> int:
    return sum(label["kind"] not in NO_TEXT_KINDS for label in labels)


def _stub(kind: str) -> Doc:
    """Label for a response that carries no text (redirect, image, PDF, script-only page)."""
    return Doc(kind, "", "", ())


def page_label(file: str, page: Page, index: int) -> dict[str, object]:
    doc = page.doc
    return {
        "file": file,
        "index": index,
        "url": page.url,
        "kind": doc.kind,
        "lang": doc.lang or None,
        "topic": doc.topic or None,
        "dup_of": doc.dup_of,
        "encoding": page.encoding,
    }


def build_cc_pages() -> Fixture:
    corpus = Corpus(SEED + 1)
    make_url = UrlMaker()
    articles = article_pages(corpus, make_url)
    headlines = [p.doc.title for p in articles]
    pages = [
        *articles,
        *duplicate_pages(corpus, make_url, articles),
        *spam_pages(corpus, make_url, headlines),
        *encoded_pages(corpus, make_url),
        *transport_pages(corpus, make_url),
    ]
    corpus.rng.shuffle(pages)
    writer = WarcWriter("cc_pages.warc.gz", SEED + 2)
    writer.warcinfo("Synthetic web pages for datapipe tests; not real crawl data.")
    labels = []
    for index, page in enumerate(pages):
        record_id = writer.capture(page.url, page.http)
        if index == 5:
            writer.metadata(page.url, record_id, page.doc.lang or "unknown")
        labels.append(page_label("cc_pages.warc.gz", page, index))
    note = "Common Crawl style WARC: articles, duplicates, spam, encodings, transfer edge cases."
    return Fixture(
        "cc_pages.warc.gz",
        writer.getvalue(),
        "warc",
        writer.documents,
        _with_text(labels),
        note,
        dict(writer.counts),
        labels,
    )


def wet_docs(corpus: Corpus) -> list[Doc]:
    docs = [corpus.article("en", TOPICS[i % 6]) for i in range(16)]
    docs += [corpus.article("zh", TOPICS[i % 6]) for i in range(14)]
    return docs


def build_wet() -> Fixture:
    corpus = Corpus(SEED + 3)
    make_url = UrlMaker()
    docs = wet_docs(corpus)
    pairs = [(d, make_url(SITES["field" if d.lang == "en" else "xiaolu"], d)) for d in docs]
    for doc, url in corpus.rng.sample(pairs[:16], 2) + corpus.rng.sample(pairs[16:], 2):
        near = corpus.near_dup(doc, url)
        pairs.append((near, make_url(SITES["mirror"], near)))
    extra = [
        (corpus.listing("en"), "shop"),
        (corpus.gambling(), "yule"),
        (corpus.seo(), "seo"),
        (corpus.navigation("en", [d.title for d in docs]), "portal"),
        (corpus.low_quality(1), "field"),
        (_stub("empty"), "field"),
    ]
    pairs += [(d, make_url(SITES[k], d)) for d, k in extra]
    corpus.rng.shuffle(pairs)
    writer = WarcWriter("cc_pages.warc.wet.gz", SEED + 4)
    writer.warcinfo("Synthetic WET text extracted from synthetic pages.")
    labels = []
    for index, (doc, url) in enumerate(pairs):
        text = doc.text.encode("utf-8") if doc.kind != "empty" else b""
        lang = {"en": "eng", "zh": "zho"}.get(doc.lang)
        extra_headers = [("WARC-Refers-To", writer.new_id())]
        if lang and text:
            extra_headers.append(("WARC-Identified-Content-Language", lang))
        writer.add("conversion", text, "text/plain", uri=url, extra=extra_headers)
        labels.append(page_label("cc_pages.warc.wet.gz", Page(url, b"", doc), index))
    note = "WET conversion records (plain text), with near-duplicates and one empty record."
    return Fixture(
        "cc_pages.warc.wet.gz",
        writer.getvalue(),
        "wet",
        writer.documents,
        _with_text(labels),
        note,
        dict(writer.counts),
        labels,
    )


def jsonl(rows: Iterable[dict[str, object]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def build_docs_jsonl() -> Fixture:
    corpus = Corpus(SEED + 5)
    docs = [corpus.article("en", TOPICS[i % 6]) for i in range(22)]
    docs += [corpus.article("zh", TOPICS[i % 6]) for i in range(20)]
    docs += [corpus.near_dup(d, f"index:{i}") for i, d in enumerate(docs[:3])]
    docs += [corpus.near_dup(docs[22 + i], f"index:{22 + i}") for i in range(2)]
    docs += [
        corpus.listing("en"),
        corpus.listing("zh"),
        corpus.buy_now(),
        corpus.buy_now(),
        corpus.seo(),
        corpus.gambling(),
        corpus.gambling(),
        corpus.low_quality(3),
    ]
    ordered = [
        *docs,
        *(replace(docs[i], kind="exact_dup", dup_of=f"index:{i}") for i in (4, 9, 25, 30, 47)),
    ]
    order = list(range(len(ordered)))
    corpus.rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    rows, labels = [], []
    for new, old in enumerate(order):
        doc = ordered[old]
        dup = f"index:{position[int(doc.dup_of[6:])]}" if doc.dup_of else None
        rows.append({"text": doc.text})
        labels.append(
            {
                "file": "docs.jsonl",
                "index": new,
                "url": None,
                "kind": doc.kind,
                "lang": doc.lang,
                "topic": doc.topic or None,
                "dup_of": dup,
                "encoding": "utf-8",
            }
        )
    note = "Plain {'text': ...} lines; near/exact duplicates and spam. dup_of is a line index."
    return Fixture("docs.jsonl", jsonl(rows), "jsonl", len(rows), len(rows), note, labels=labels)


def doc_urls(corpus: Corpus, lang: str, count: int) -> list[tuple[Doc, str]]:
    make_url = UrlMaker()
    site = SITES["field" if lang == "en" else "qingshan"]
    docs = [corpus.article(lang, TOPICS[i % 6]) for i in range(count)]
    return [(d, make_url(site, d)) for d in docs]


def warc_path(index: int) -> str:
    segment = f"1715971{index:06d}.{index % 100:02d}"
    name = f"CC-MAIN-20240520{index % 24:02d}0000-20240520{index % 24:02d}3000-{index:05d}"
    return f"crawl-data/{CRAWL}/segments/{segment}/warc/{name}.warc.gz"


def build_dolma() -> Fixture:
    corpus = Corpus(SEED + 6)
    pairs = doc_urls(corpus, "en", 20) + doc_urls(corpus, "zh", 16)
    pairs += [
        (corpus.listing("en"), "https://shop.megadeals.example.com/deals"),
        (corpus.gambling(), "https://www.hongyun-yule.example.com/"),
        (corpus.seo(), "https://paris-hotels-cheap.example.org/"),
        (corpus.buy_now(), "https://best-offers.example.net/buy"),
    ]
    rows, labels = [], []
    for index, (doc, url) in enumerate(pairs):
        created = iso(BASE_DATE - timedelta(days=3 + index, hours=index))
        rows.append(
            {
                "id": hashlib.sha1(url.encode()).hexdigest()[:24],
                "text": doc.text,
                "source": "common-crawl",
                "added": "2024-06-01T00:00:00.000Z",
                "created": created,
                "metadata": {"url": url, "warc_url": f"s3://commoncrawl/{warc_path(index)}"},
            }
        )
        labels.append(page_label("docs_dolma.jsonl.gz", Page(url, b"", doc), index))
    note = "Dolma layout, gzip compressed."
    return Fixture(
        "docs_dolma.jsonl.gz",
        gzip_bytes(jsonl(rows)),
        "jsonl",
        len(rows),
        len(rows),
        note,
        labels=labels,
    )


def ccnet_row(rng: random.Random, doc: Doc, url: str, index: int) -> dict[str, object]:
    raw = "\n".join(doc.paragraphs)
    spam = doc.kind != "article"
    perplexity = round(rng.uniform(900, 2500) if spam else rng.uniform(60, 400), 1)
    bucket = "head" if perplexity < 200 else "middle" if perplexity < 600 else "tail"
    return {
        "url": url,
        "date_download": iso(warc_date(index * 101)),
        "digest": sha1_b32(raw.encode()),
        "raw_content": raw,
        "title": doc.title,
        "language": doc.lang,
        "language_score": round(rng.uniform(0.6 if spam else 0.85, 1), 2),
        "perplexity": perplexity,
        "bucket": bucket,
        "nlines": raw.count("\n") + 1,
        "length": len(raw),
        "source_domain": url.split("/")[2],
    }


def build_ccnet() -> Fixture:
    corpus = Corpus(SEED + 7)
    pairs = doc_urls(corpus, "en", 14) + doc_urls(corpus, "zh", 12)
    pairs += [
        (corpus.listing("zh"), "https://mall.haohuo.example.com/item/1"),
        (corpus.gambling(), "https://www.hongyun-yule.example.com/reg"),
        (corpus.buy_now(), "https://best-offers.example.net/now"),
        (corpus.seo(), "https://paris-hotels-cheap.example.org/deals"),
    ]
    rows = [ccnet_row(corpus.rng, d, u, i) for i, (d, u) in enumerate(pairs)]
    labels = [
        page_label("docs_ccnet.jsonl.zst", Page(u, b"", d), i) for i, (d, u) in enumerate(pairs)
    ]
    data = zstandard.ZstdCompressor(level=19, write_checksum=True).compress(jsonl(rows))
    return Fixture(
        "docs_ccnet.jsonl.zst",
        data,
        "jsonl",
        len(rows),
        len(rows),
        "cc_net layout, zstandard compressed.",
        labels=labels,
    )


# --- bad inputs ------------------------------------------------------------------------------


def _small_warc(name: str, seed: int, docs: int) -> WarcWriter:
    corpus = Corpus(seed)
    writer = WarcWriter(name, seed)
    writer.warcinfo(f"Deliberately broken fixture {name}.")
    for i in range(docs):
        doc = corpus.article("en" if i % 2 == 0 else "zh")
        site = SITES["field" if doc.lang == "en" else "xiaolu"]
        page = html_page(f"https://{site.domain}/{name.split('.')[0]}/{i}.html", doc, site)
        writer.add("response", page.http, "application/http; msgtype=response", uri=page.url)
    return writer


def build_truncated() -> Fixture:
    writer = _small_warc("truncated.warc.gz", SEED + 10, 4)
    last = writer.members[-1]
    data = b"".join(writer.members[:-1]) + last[: len(last) // 2]
    note = "The last gzip member (4th response) is cut in half; the first 3 responses are intact."
    return Fixture("bad/truncated.warc.gz", data, "warc", 4, 3, note, dict(writer.counts))


def malformed_record(writer: WarcWriter, garbage: str, length: str | None) -> None:
    """A response with a header line that has no colon, or a non-numeric Content-Length."""
    body = http_ok(b"<html><body><p>malformed record body</p></body></html>", "text/html")
    length = length or str(len(body))
    lines = [
        "WARC/1.1",
        "WARC-Type: response",
        f"WARC-Record-ID: {writer.new_id()}",
        "WARC-Date: 2024-05-20T00:00:00Z",
        "WARC-Target-URI: https://bad.example.com/x",
        *([garbage] if garbage else []),
        "Content-Type: application/http; msgtype=response",
        f"Content-Length: {length}",
    ]
    writer.add_raw(("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n\r\n", "response")


def build_malformed() -> Fixture:
    writer = _small_warc("malformed_header.warc.gz", SEED + 11, 1)
    malformed_record(writer, "this line is not a header at all", None)
    malformed_record(writer, "", "twelve hundred")
    good = _small_warc("malformed_header.warc.gz", SEED + 12, 2)
    writer.members.append(good.members[-1])
    writer.counts["response"] += 1
    note = (
        "Records 2 and 3 are malformed (a header line without a colon; Content-Length "
        "'twelve hundred'); records 1 and 4 are good. Each record is its own gzip member."
    )
    return Fixture(
        "bad/malformed_header.warc.gz", writer.getvalue(), "warc", 4, 2, note, dict(writer.counts)
    )


def build_binary() -> Fixture:
    rng = random.Random(SEED + 13)
    writer = _small_warc("binary_payload.warc.gz", SEED + 13, 1)
    blob = bytearray(rng.randbytes(3000))
    blob[::37] = bytes(len(blob[::37]))  # plenty of NUL bytes
    http = http_ok(bytes(blob), "text/html; charset=utf-8")
    writer.add(
        "response",
        http,
        "application/http; msgtype=response",
        uri="https://files.example.net/download/page.html",
    )
    note = "Second response claims text/html but its body is random binary with NUL bytes."
    return Fixture(
        "bad/binary_payload.warc.gz", writer.getvalue(), "warc", 2, 1, note, dict(writer.counts)
    )


def build_invalid_utf8() -> Fixture:
    corpus = Corpus(SEED + 14)
    good = [jsonl([{"text": corpus.article(lang).text}]) for lang in ("en", "zh", "en", "zh")]
    lines = [
        good[0],
        good[1],
        b'{"text": "caf\xe9 au lait, cr\xe8me br\xfbl\xe9e \xff\xfe broken bytes"}\n',
        b'{"text": "this line is not valid JSON because it never ends\n',
        b'{"text": ""}\n',
        b'{"id": "no-text-field", "body": "the text lives under the wrong key"}\n',
        good[2],
        good[3],
    ]
    note = (
        "Lines 3-6 (1-based): invalid UTF-8, invalid JSON, empty text, no text field; "
        "lines 1, 2, 7, 8 are good."
    )
    return Fixture("bad/invalid_utf8.jsonl", b"".join(lines), "jsonl", 8, 4, note)


def build_giant() -> Fixture:
    corpus = Corpus(SEED + 15)
    cycle = " ".join(s for t in TOPICS for s in SENTENCES["en"][t][:3]) + " "
    giant = cycle * (3_000_000 // len(cycle) + 1)
    rows = [
        {"text": corpus.article("en").text},
        {"text": giant},
        {"text": corpus.article("zh").text},
    ]
    note = f"Line 2 is one {len(giant.encode()):,} byte document of repeated sentences."
    return Fixture("bad/giant_doc.jsonl.gz", gzip_bytes(jsonl(rows)), "jsonl", 3, 3, note)


def build_not_gzip() -> Fixture:
    data = b'this file is named .jsonl.gz but it is plain text, not gzip\n{"text": "x"}\n'
    return Fixture(
        "bad/not_gzip.jsonl.gz",
        data,
        "jsonl",
        0,
        0,
        "Plain text with a .gz name: opening it as gzip must fail cleanly.",
    )


def spaces(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    block = b" " * chunk
    for start in range(0, total, chunk):
        yield block[: min(chunk, total - start)]


def bomb_record(writer: WarcWriter, url: str) -> None:
    """A response whose WARC Content-Length is ~200 MiB of spaces; on disk ~200 KB."""
    head = http_message(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(BOMB_BYTES))],
        b"",
        length=False,
    )
    payload_len = len(head) + BOMB_BYTES
    pairs = [
        ("WARC-Type", "response"),
        ("WARC-Record-ID", writer.new_id()),
        ("WARC-Date", iso(warc_date(1))),
        ("WARC-Target-URI", url),
        ("Content-Type", "application/http; msgtype=response"),
        ("Content-Length", str(payload_len)),
    ]
    chunks = [warc_head(pairs) + head, *spaces(BOMB_BYTES), b"\r\n\r\n"]
    writer.members.append(gzip_member(chunks))
    writer.counts["response"] += 1


def build_bomb() -> Fixture:
    writer = WarcWriter("gzip_bomb.warc.gz", SEED + 16)
    writer.warcinfo("Deliberately hostile fixture: decompression bombs.")
    bomb_record(writer, "https://bomb.example.com/huge.html")
    inner = gzip_member(spaces(BOMB_BYTES))
    http = http_ok(inner, "text/html; charset=utf-8", ("Content-Encoding", "gzip"))
    writer.add(
        "response",
        http,
        "application/http; msgtype=response",
        uri="https://bomb.example.com/encoded.html",
    )
    good = _small_warc("gzip_bomb.warc.gz", SEED + 17, 1)
    writer.members.append(good.members[-1])
    writer.counts["response"] += 1
    note = (
        f"Response 1 declares a {BOMB_BYTES:,} byte payload (spaces) in one gzip member; "
        f"response 2 has a small gzip Content-Encoding body that inflates to {BOMB_BYTES:,} "
        "bytes; response 3 is a normal page."
    )
    return Fixture(
        "bad/gzip_bomb.warc.gz", writer.getvalue(), "warc", 3, 1, note, dict(writer.counts)
    )


BUILDERS = (
    build_cc_pages,
    build_wet,
    build_docs_jsonl,
    build_dolma,
    build_ccnet,
    build_truncated,
    build_malformed,
    build_binary,
    build_invalid_utf8,
    build_giant,
    build_not_gzip,
    build_bomb,
)

MANIFEST_FIELDS = {
    "documents": "document-bearing records as written: WARC response/resource/conversion "
    "records, or non-blank JSONL lines",
    "text_documents": "of those, the ones a tolerant reader turns into non-empty text: a JSONL "
    "line that is UTF-8 JSON with a non-empty 'text'; a complete, well-formed "
    "WARC/WET record of sane size whose payload has text (not a redirect, "
    "image, PDF, script-only page, binary blob or empty conversion)",
    "records": "WARC records by WARC-Type",
}


def write_file(out: Path, relative: str, data: bytes) -> dict[str, object]:
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def generate(out: Path) -> dict[str, dict[str, object]]:
    """Write every fixture, _labels.jsonl and MANIFEST.json into `out`; return the file table."""
    files: dict[str, dict[str, object]] = {}
    labels: list[dict[str, object]] = []
    for builder in BUILDERS:
        fx = builder()
        entry = write_file(out, fx.path, fx.data)
        entry |= {
            "format": fx.format,
            "documents": fx.documents,
            "text_documents": fx.text_documents,
            "note": fx.note,
        }
        if fx.records:
            entry["records"] = dict(sorted(fx.records.items()))
        files[fx.path] = entry
        labels += fx.labels
    files["_labels.jsonl"] = write_file(out, "_labels.jsonl", jsonl(labels)) | {
        "format": "jsonl",
        "documents": len(labels),
        "text_documents": len(labels),
        "note": "Ground truth per document of the well-formed fixtures (not pipeline input).",
    }
    manifest = {
        "generator": "data_samples/generate.py",
        "seed": SEED,
        "crawl": CRAWL,
        "fields": MANIFEST_FIELDS,
        "files": dict(sorted(files.items())),
    }
    (out / "MANIFEST.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write datapipe's deterministic fixtures.")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"output directory (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    files = generate(args.output)
    total = sum(int(e["bytes"]) for e in files.values())
    print(f"wrote {len(files) + 1} files ({total:,} bytes) to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
