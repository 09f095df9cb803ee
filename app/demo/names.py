"""Seeded Chinese names (with the pinyin the login ids are made of) for the demo organisation.

The characters are a fixed list with their pinyin, so login ids like ``zhangwei`` need
no transliteration library and the same seed always gives the same people.
"""

from __future__ import annotations

import random


def _tokens(text: str) -> list[str]:
    """``"王wang 李li"`` → ``["王wang", "李li"]`` (character + its pinyin)."""
    return text.split()


#: the most common surnames, most frequent first (weights fall off with rank)
SURNAMES = _tokens(
    "王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou 徐xu 孙sun 马ma 朱zhu "
    "胡hu 郭guo 何he 高gao 林lin 罗luo 郑zheng 梁liang 谢xie 宋song 唐tang 韩han 冯feng 邓deng "
    "曹cao 彭peng 曾zeng 肖xiao 田tian 董dong 袁yuan 潘pan 蒋jiang 蔡cai 杜du 叶ye 程cheng 苏su "
    "魏wei 吕lv 丁ding 任ren 沈shen 姚yao 卢lu 钟zhong"
)
GIVEN = _tokens(
    "伟wei 芳fang 娜na 敏min 静jing 丽li 强qiang 磊lei 军jun 洋yang 勇yong 艳yan 杰jie 娟juan "
    "涛tao 明ming 超chao 秀xiu 霞xia 平ping 刚gang 英ying 华hua 建jian 文wen 辉hui 鹏peng 婷ting "
    "玲ling 晨chen 浩hao 宇yu 欣xin 雪xue 梅mei 琳lin 峰feng 斌bin 颖ying 倩qian 佳jia 俊jun "
    "海hai 红hong 燕yan 萍ping 波bo 宁ning 凯kai 嘉jia 思si 子zi 雨yu 昊hao 怡yi 晓xiao 志zhi "
    "国guo 春chun 立li"
)


def _split(token: str) -> tuple[str, str]:
    return token[0], token[1:]


class NameMaker:
    """Unique (name, login) pairs from a seeded generator: 2- and 3-character names."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.logins: set[str] = set()
        self.weights = [1 / (rank + 4) for rank in range(len(SURNAMES))]

    def make(self) -> tuple[str, str]:
        while True:
            surname = _split(self.rng.choices(SURNAMES, self.weights)[0])
            given = [_split(self.rng.choice(GIVEN)) for _ in range(self.rng.choice((1, 2, 2)))]
            name = surname[0] + "".join(g[0] for g in given)
            if name in self.names:
                continue
            self.names.add(name)
            login = surname[1] + "".join(g[1] for g in given)
            base, n = login, 2
            while login in self.logins:
                login, n = f"{base}{n}", n + 1
            self.logins.add(login)
            return name, login
