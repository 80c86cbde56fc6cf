package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

type Client struct {
	Ip   string
	Port int
	Name string
	conn net.Conn
	flag int //当前client的模式（教程正文没有写出这个字段，按视频补上）
}

func NewClient(serverIp string, serverPort int) *Client {
	//创建客户端对象
	client := &Client{
		Ip:   serverIp,
		Port: serverPort,
		flag: 999, //按视频补上：不初始化为非0值，Run()的菜单循环会立刻结束
	}

	//链接server
	conn, err := net.Dial("tcp", fmt.Sprintf("%s:%d", serverIp, serverPort))
	if err != nil {
		fmt.Println("net.Dial err: ", err)
		return nil
	}

	client.conn = conn
	return client
}

// 处理server回应的消息，直接显示到标准输出即可
func (this *Client) DealResponse() {
	//一旦client.conn有数据，就直接copy到stdout的标准输出上，永久阻塞监听
	io.Copy(os.Stdout, this.conn)

	//等价于下面几句：
	//for {
	// buf := make([]byte, 4096)
	// n, err := this.conn.Read(buf)
	// fmt.Println(string(buf[:n-1]))
	//}
}

func (this *Client) menu() bool {
	var flag int
	fmt.Println("1.公聊模式")
	fmt.Println("2.私聊模式")
	fmt.Println("3.更新用户名")
	fmt.Println("0.退出")

	fmt.Scanln(&flag)
	if flag >= 0 && flag <= 3 {
		this.flag = flag
		return true
	} else {
		fmt.Println(">>>>>请输入合法范围内的数组<<<<<")
		return false
	}
}

func (this *Client) SelectUsers() {
	sendMsg := "who\n"
	this.conn.Write([]byte(sendMsg))
}

func (this *Client) PrivateChat() {
	var remoteUser string
	var chatMsg string

	this.SelectUsers()
	fmt.Println(">>>>>请输入您想私聊的对象，exit退出：")
	fmt.Scanln(&remoteUser)

	for remoteUser != "exit" {
		fmt.Println(">>>>>请输入聊天内容，exit退出：")
		fmt.Scanln(&chatMsg)
		for chatMsg != "exit" {
			if len(chatMsg) != 0 {
				sendMsg := "to " + remoteUser + " " + chatMsg + "\n\n"
				_, err := this.conn.Write([]byte(sendMsg))
				if err != nil {
					fmt.Println("conn write error: ", err)
					break
				}
			}

			//置空消息，开始下一轮循环
			chatMsg = ""
			fmt.Println(">>>>>请输入聊天内容，exit退出.")
			fmt.Scanln(&chatMsg)
		}

		remoteUser = ""
		this.SelectUsers()
		fmt.Println(">>>>>请输入您想私聊的对象，exit退出：")
		fmt.Scanln(&remoteUser)
	}
}

// 公聊模式
func (this *Client) PublicChat() {
	var chatMsg string
	fmt.Println(">>>>>请输入聊天内容，exit退出.")
	fmt.Scanln(&chatMsg)

	for chatMsg != "exit" {
		fmt.Println("您输入的是：", chatMsg)
		if len(chatMsg) != 0 {
			sendMsg := chatMsg + "\n"
			_, err := this.conn.Write([]byte(sendMsg))
			if err != nil {
				fmt.Println("conn write error: ", err)
				break
			}
		}

		//置空消息，开始下一轮循环
		chatMsg = ""
		fmt.Println(">>>>>请输入聊天内容，exit退出.")
		fmt.Scanln(&chatMsg)
	}
}

func (this *Client) UpdateName() bool {
	fmt.Println(">>>>>>请输入用户名：")
	fmt.Scanln(&this.Name)
	sendMsg := "rename " + this.Name + "\n"
	_, err := this.conn.Write([]byte(sendMsg))
	if err != nil {
		fmt.Println("conn.Write err: ", err)
		return false
	}
	return true
}

func (this *Client) Run() {
	//一直循环到用户输入0退出为止
	for this.flag != 0 {
		//一直循环到输入合法数字为止
		for this.menu() != true {
		}

		switch this.flag {
		case 1:
			//公聊模式
			this.PublicChat() //教程正文说要在这里调用，但代码里漏写了，按视频补上
			break
		case 2:
			//私聊模式
			this.PrivateChat() //同上
			break
		case 3:
			//更新用户名
			this.UpdateName()
			break
		}
	}
}

var serverIp string
var serverPort int

func init() {
	//命令格式：./client -ip 127.0.0.1 -port 8888
	//查看命令帮助文档：./client -h
	flag.StringVar(&serverIp, "ip", "127.0.0.1", "设置服务器IP地址(默认是127.0.0.1)")
	flag.IntVar(&serverPort, "port", 8888, "设置服务器端口(默认是8888)")
}

func main() {
	//命令行解析
	flag.Parse()

	client := NewClient(serverIp, serverPort)
	if client == nil {
		fmt.Println(">>>>>>>链接服务器失败...")
		return
	}
	fmt.Println(">>>>>>>>链接服务器成功...")

	defer client.conn.Close()

	//单独一个goroutine处理server的回执消息
	go client.DealResponse()

	//启动客户端的业务
	client.Run()
}
