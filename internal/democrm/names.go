package democrm

// hanzi is a character or compound surname with its Hanyu Pinyin (no tones;
// ü written "yu" after l and n, as on passports: 吕 = Lyu).
type hanzi struct {
	h, py string
}

// Surnames in roughly descending frequency; the first ones are drawn more
// often (see pickSurname).
var surnames = []hanzi{
	{"王", "Wang"}, {"李", "Li"}, {"张", "Zhang"}, {"刘", "Liu"}, {"陈", "Chen"},
	{"杨", "Yang"}, {"黄", "Huang"}, {"赵", "Zhao"}, {"吴", "Wu"}, {"周", "Zhou"},
	{"徐", "Xu"}, {"孙", "Sun"}, {"马", "Ma"}, {"朱", "Zhu"}, {"胡", "Hu"},
	{"郭", "Guo"}, {"何", "He"}, {"高", "Gao"}, {"林", "Lin"}, {"罗", "Luo"},
	{"郑", "Zheng"}, {"梁", "Liang"}, {"谢", "Xie"}, {"宋", "Song"}, {"唐", "Tang"},
	{"许", "Xu"}, {"韩", "Han"}, {"冯", "Feng"}, {"邓", "Deng"}, {"曹", "Cao"},
	{"彭", "Peng"}, {"曾", "Zeng"}, {"肖", "Xiao"}, {"田", "Tian"}, {"董", "Dong"},
	{"袁", "Yuan"}, {"潘", "Pan"}, {"于", "Yu"}, {"蒋", "Jiang"}, {"蔡", "Cai"},
	{"余", "Yu"}, {"杜", "Du"}, {"叶", "Ye"}, {"程", "Cheng"}, {"苏", "Su"},
	{"魏", "Wei"}, {"吕", "Lyu"}, {"丁", "Ding"}, {"任", "Ren"}, {"沈", "Shen"},
	{"姚", "Yao"}, {"卢", "Lu"}, {"姜", "Jiang"}, {"崔", "Cui"}, {"钟", "Zhong"},
	{"谭", "Tan"}, {"陆", "Lu"}, {"汪", "Wang"}, {"范", "Fan"}, {"金", "Jin"},
	{"石", "Shi"}, {"廖", "Liao"}, {"贾", "Jia"}, {"夏", "Xia"}, {"韦", "Wei"},
	{"付", "Fu"}, {"方", "Fang"}, {"白", "Bai"}, {"邹", "Zou"}, {"孟", "Meng"},
	{"熊", "Xiong"}, {"秦", "Qin"}, {"邱", "Qiu"}, {"江", "Jiang"}, {"尹", "Yin"},
	{"薛", "Xue"}, {"闫", "Yan"}, {"段", "Duan"}, {"雷", "Lei"}, {"侯", "Hou"},
	{"龙", "Long"}, {"史", "Shi"}, {"陶", "Tao"}, {"黎", "Li"}, {"贺", "He"},
	{"顾", "Gu"}, {"毛", "Mao"}, {"郝", "Hao"}, {"龚", "Gong"}, {"邵", "Shao"},
	{"万", "Wan"}, {"钱", "Qian"}, {"严", "Yan"}, {"覃", "Qin"}, {"武", "Wu"},
	{"戴", "Dai"}, {"莫", "Mo"}, {"孔", "Kong"}, {"向", "Xiang"}, {"汤", "Tang"},
	{"欧阳", "Ouyang"}, {"司马", "Sima"}, {"上官", "Shangguan"}, {"诸葛", "Zhuge"},
}

var maleGiven = []hanzi{
	{"伟", "wei"}, {"强", "qiang"}, {"磊", "lei"}, {"军", "jun"}, {"勇", "yong"},
	{"杰", "jie"}, {"涛", "tao"}, {"斌", "bin"}, {"超", "chao"}, {"明", "ming"},
	{"刚", "gang"}, {"平", "ping"}, {"辉", "hui"}, {"鹏", "peng"}, {"华", "hua"},
	{"飞", "fei"}, {"鑫", "xin"}, {"波", "bo"}, {"宇", "yu"}, {"浩", "hao"},
	{"凯", "kai"}, {"健", "jian"}, {"俊", "jun"}, {"帆", "fan"}, {"帅", "shuai"},
	{"旭", "xu"}, {"宁", "ning"}, {"龙", "long"}, {"阳", "yang"}, {"建", "jian"},
	{"国", "guo"}, {"志", "zhi"}, {"文", "wen"}, {"子", "zi"}, {"轩", "xuan"},
	{"博", "bo"}, {"天", "tian"}, {"晨", "chen"}, {"睿", "rui"}, {"泽", "ze"},
	{"昊", "hao"}, {"然", "ran"}, {"嘉", "jia"}, {"成", "cheng"}, {"海", "hai"},
	{"东", "dong"}, {"峰", "feng"}, {"毅", "yi"}, {"亮", "liang"}, {"振", "zhen"},
}

var femaleGiven = []hanzi{
	{"芳", "fang"}, {"娜", "na"}, {"敏", "min"}, {"静", "jing"}, {"丽", "li"},
	{"艳", "yan"}, {"娟", "juan"}, {"霞", "xia"}, {"秀", "xiu"}, {"英", "ying"},
	{"玲", "ling"}, {"婷", "ting"}, {"雪", "xue"}, {"慧", "hui"}, {"红", "hong"},
	{"洁", "jie"}, {"琳", "lin"}, {"倩", "qian"}, {"颖", "ying"}, {"晶", "jing"},
	{"梅", "mei"}, {"莉", "li"}, {"燕", "yan"}, {"佳", "jia"}, {"欣", "xin"},
	{"怡", "yi"}, {"萍", "ping"}, {"蕾", "lei"}, {"雯", "wen"}, {"璐", "lu"},
	{"琪", "qi"}, {"悦", "yue"}, {"诗", "shi"}, {"涵", "han"}, {"梓", "zi"},
	{"萱", "xuan"}, {"雨", "yu"}, {"馨", "xin"}, {"思", "si"}, {"晓", "xiao"},
	{"春", "chun"}, {"丹", "dan"}, {"月", "yue"}, {"兰", "lan"}, {"凤", "feng"},
	{"桂", "gui"}, {"瑶", "yao"}, {"薇", "wei"}, {"琴", "qin"}, {"露", "lu"},
}

// Characters common in both men's and women's names.
var sharedGiven = []hanzi{
	{"文", "wen"}, {"晓", "xiao"}, {"小", "xiao"}, {"海", "hai"}, {"春", "chun"},
	{"雨", "yu"}, {"佳", "jia"}, {"子", "zi"}, {"安", "an"}, {"一", "yi"},
	{"思", "si"}, {"心", "xin"}, {"玉", "yu"}, {"永", "yong"}, {"金", "jin"},
}
